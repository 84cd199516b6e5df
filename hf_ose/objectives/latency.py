"""Measured inference latency of an architecture variant (random weights, CPU), through a named runtime."""

from __future__ import annotations

import gc
import logging
import statistics
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from typing import Any, Callable, ClassVar, Iterator

import torch
from torch import nn
from transformers import AutoModel, PretrainedConfig
from transformers.initialization import no_init_weights

from ..adapters import get_adapter
from ..architecture import Architecture
from ..errors import HfOseError
from ..hardware import available_memory_bytes, cpu_description
from ..torch_context import torch_threads
from .counting import build_on_meta, parameter_counts
from .runtimes import LatencyRuntime, check_runtime_name, get_runtime

logger = logging.getLogger(__name__)

_FILL_BLOCK = 1 << 16
#: Share of the memory available at measurement time that one measured model may use by default.
DEFAULT_MEMORY_FRACTION = 0.25
#: Bytes per weight and activation value: models are timed in fp32.
_BYTES_PER_VALUE = 4
#: Allowance for the runtime's own buffers, inputs and allocator slack.
_OVERHEAD_BYTES = 64 << 20
#: The settings a single latency figure depends on (the rest steer checks and memory, not the figure).
MEASUREMENT_FIELDS: tuple[str, ...] = ("batch_size", "seq_len", "threads", "runtime", "warmup", "repeats", "rounds")
NOISE_POLICIES: tuple[str, ...] = ("raise", "warn")


class ModelTooLargeError(HfOseError, MemoryError):
    """Building the model would exceed the memory budget of a latency measurement."""


@dataclass(frozen=True)
class LatencySettings:
    """How latency is measured and checked.

    Input shape ``batch_size`` x ``seq_len``; CPU ``threads`` (``None``: PyTorch's current count); the
    ``runtime`` (see :func:`hf_ose.objectives.runtimes.runtime_names`). Each model is timed in ``rounds``
    interleaved rounds (every sampled model once per round, so a burst of load hits all alike); each round
    builds the model, runs ``warmup`` untimed passes and ``repeats`` timed ones and keeps their median; the
    model's latency is the median over rounds.

    When the predictor's held-out error (mean, or the parent's own) stays above ``max_held_out_error`` after
    outliers are re-measured, the search stops with :class:`~hf_ose.objectives.latency_model.LatencyNoiseError`
    (``on_noise="raise"``) or warns and goes on (``"warn"``). ``memory_budget_gb`` caps the memory of one
    measured model (``None``: a quarter of the memory available when measuring); deeper models that do not fit
    are timed at depths 1 and 2 and extended linearly in depth (the AB^nC way).
    """

    batch_size: int = 1
    seq_len: int = 128
    threads: int | None = None
    runtime: str = "pytorch"
    warmup: int = 1
    repeats: int = 3
    rounds: int = 3
    max_held_out_error: float = 0.25
    on_noise: str = "raise"
    memory_budget_gb: float | None = None

    _POSITIVE: ClassVar[tuple[str, ...]] = ("batch_size", "seq_len", "repeats", "rounds")

    def __post_init__(self) -> None:
        for name in self._POSITIVE:
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"LatencySettings.{name} must be an integer >= 1, got {value!r}.")
        if self.threads is not None and (not isinstance(self.threads, int) or self.threads < 1):
            raise ValueError(
                f"LatencySettings.threads must be an integer >= 1 or None (PyTorch's current count), "
                f"got {self.threads!r}."
            )
        if not isinstance(self.warmup, int) or self.warmup < 0:
            raise ValueError(f"LatencySettings.warmup must be an integer >= 0, got {self.warmup!r}.")
        if not isinstance(self.max_held_out_error, (int, float)) or not self.max_held_out_error > 0:
            raise ValueError(
                f"LatencySettings.max_held_out_error must be a positive fraction (0.25 = 25%), "
                f"got {self.max_held_out_error!r}."
            )
        if self.on_noise not in NOISE_POLICIES:
            raise ValueError(f"LatencySettings.on_noise must be one of {list(NOISE_POLICIES)}, got {self.on_noise!r}.")
        if self.memory_budget_gb is not None and not (
            isinstance(self.memory_budget_gb, (int, float)) and self.memory_budget_gb > 0
        ):
            raise ValueError(
                f"LatencySettings.memory_budget_gb must be a positive number of gigabytes or None (a quarter "
                f"of the available memory), got {self.memory_budget_gb!r}."
            )
        check_runtime_name(self.runtime)

    def resolved(self) -> "LatencySettings":
        """These settings with ``threads`` filled in from ``torch.get_num_threads()`` where unset."""
        return self if self.threads is not None else replace(self, threads=torch.get_num_threads())

    def fingerprint(self) -> dict[str, Any]:
        """Everything a latency figure depends on, for cache keys: the measurement settings (resolved), CPU,
        torch version and the runtime's own package versions (if it has any)."""
        settings = asdict(self.resolved())
        fingerprint = {**{k: settings[k] for k in MEASUREMENT_FIELDS}, "cpu": cpu_description(),
                       "torch": torch.__version__}
        versions = get_runtime(self.runtime).versions()
        return {**fingerprint, "runtime_versions": versions} if versions else fingerprint

    def memory_budget_bytes(self) -> int:
        """The most memory one measured model may take, in bytes."""
        if self.memory_budget_gb is not None:
            return int(self.memory_budget_gb * 1e9)
        return int(DEFAULT_MEMORY_FRACTION * available_memory_bytes())


@dataclass(frozen=True)
class LatencyMeasurement:
    """Median and every timed run (milliseconds) of one configuration under ``settings`` (resolved)."""

    median_ms: float
    times_ms: tuple[float, ...]
    settings: LatencySettings


def estimated_bytes(arch: Architecture, params: int, batch_size: int = 1, seq_len: int = 1) -> int:
    """Memory to build ``arch``'s base model (``params`` weights) and run one fp32 forward pass, generously.

    Activations: a few hidden- and intermediate-wide tensors per token and the attention scores of a layer.
    """
    tokens = batch_size * seq_len
    activations = tokens * (16 * arch.hidden + 4 * arch.intermediate) + 4 * batch_size * arch.heads * seq_len**2
    return _BYTES_PER_VALUE * (params + activations) + _OVERHEAD_BYTES


def random_model(
    config: PretrainedConfig, seed: int = 0, *, max_bytes: int | None = None, input_shape: tuple[int, int] = (1, 1)
) -> nn.Module:
    """The base ``AutoModel`` of ``config`` in eval mode with small random weights, built fast.

    Refuses (:class:`ModelTooLargeError`, before allocating) a model whose weights and activations for
    ``input_shape`` would exceed ``max_bytes`` (``None``: a quarter of the available memory); the size is
    counted on the meta device. Transformers' weight initialisation takes seconds on large models; it is
    skipped and every parameter is filled by tiling one block of N(0, 0.02) values (finite, never denormal in
    practice), which times the same.
    """
    budget = int(DEFAULT_MEMORY_FRACTION * available_memory_bytes()) if max_bytes is None else max_bytes
    params, _ = parameter_counts(build_on_meta(config))
    needed = estimated_bytes(get_adapter(config).read(config), params, *input_shape)
    if needed > budget:
        raise ModelTooLargeError(
            f"Building {type(config).__name__} ({params / 1e6:.0f}M parameters) for latency needs about "
            f"{needed / 1e9:.1f} GB, over the budget of {budget / 1e9:.1f} GB. Raise "
            "LatencySettings.memory_budget_gb if the memory is there, or measure a shallower variant (the "
            "search then times depths 1 and 2 and extends them in depth)."
        )
    with no_init_weights():
        model = AutoModel.from_config(config)
    block = torch.randn(_FILL_BLOCK, generator=torch.Generator().manual_seed(seed)) * 0.02
    with torch.no_grad():
        for param in model.parameters():
            flat = param.view(-1)
            for start in range(0, flat.numel(), _FILL_BLOCK):
                chunk = flat[start : start + _FILL_BLOCK]
                chunk.copy_(block[: chunk.numel()].to(chunk.dtype))
    return model.eval()


class PyTorchRuntime(LatencyRuntime):
    """Eager PyTorch on the CPU, fp32, under ``settings.threads`` intra-op threads."""

    name = "pytorch"

    @contextmanager
    def session(self, config: PretrainedConfig, settings: LatencySettings) -> Iterator[Callable[[], object]]:
        shape = (settings.batch_size, settings.seq_len)
        model = random_model(config, max_bytes=settings.memory_budget_bytes(), input_shape=shape)
        generator = torch.Generator().manual_seed(0)
        inputs = {
            "input_ids": torch.randint(0, config.vocab_size, shape, generator=generator),
            "attention_mask": torch.ones(shape, dtype=torch.long),
        }
        try:
            with torch_threads(settings.threads), torch.inference_mode():
                yield lambda: model(**inputs)
        finally:
            del model
            gc.collect()


def measure_latency(config: PretrainedConfig, settings: LatencySettings = LatencySettings()) -> LatencyMeasurement:
    """One round: build ``config``'s model in ``settings.runtime``, run ``warmup`` untimed and ``repeats``
    timed forward passes on random token ids, and return their median.

    Other busy processes inflate every run, not just a few, so one round cannot tell load from cost; a search
    measures in interleaved rounds and checks the fit (:mod:`hf_ose.objectives.latency_model`).
    """
    settings = settings.resolved()
    times_ms = []
    with get_runtime(settings.runtime).session(config, settings) as run:
        for _ in range(settings.warmup):
            run()
        for _ in range(settings.repeats):
            start = time.perf_counter()
            run()
            times_ms.append((time.perf_counter() - start) * 1e3)
    median = statistics.median(times_ms)
    logger.debug("Measured %s: median %.2f ms over %d runs.", type(config).__name__, median, len(times_ms))
    return LatencyMeasurement(median, tuple(times_ms), settings)
