"""Timing forward passes on the CPU: one model's latency round through a named runtime (random weights), and
models or exported artifacts side by side.

Load on a shared machine comes in bursts; a search times each model in interleaved rounds
(:mod:`hf_ose.latency.sampling`), and :func:`measure` times every entry once per round, for several rounds (each
round starting one entry later), so a burst is spread over all of them instead of inflating one. A side-by-side
entry's figure is the median of all its timed runs, with their spread (quartiles, minimum and maximum).
"""

from __future__ import annotations

import gc
import json
import logging
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path

import numpy as np
import torch
from torch import nn
from transformers import AutoModel, PretrainedConfig
from transformers.initialization import no_init_weights

from ..adapters import get_adapter
from ..architecture import Architecture
from ..exceptions import HfOseError
from ..io import atomic_write
from ..torch_context import torch_threads
from .settings import (
    DEFAULT_MEMORY_FRACTION, LatencyRuntime, LatencySettings, available_memory_bytes, cpu_description, get_runtime,
)

logger = logging.getLogger(__name__)

_FILL_BLOCK = 1 << 16
#: Bytes per weight and activation value: models are timed in fp32.
_BYTES_PER_VALUE = 4
#: Allowance for the runtime's own buffers, inputs and allocator slack.
_OVERHEAD_BYTES = 64 << 20
#: Packages whose versions are recorded with a side-by-side result.
_PACKAGES = ("torch", "transformers", "onnxruntime", "openvino", "nncf")


class ModelTooLargeError(HfOseError, MemoryError):
    """Building the model would exceed the memory budget of a latency measurement."""


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
    with torch.device("meta"):
        params = sum(p.numel() for p in AutoModel.from_config(config).parameters())
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
    measures in interleaved rounds and checks the fit (:mod:`hf_ose.latency.model`).
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


class BenchError(HfOseError, ValueError):
    """A path to benchmark is neither a model folder nor an artifact folder, or the settings are invalid."""


@dataclass(frozen=True)
class BenchTarget:
    """One entry to time: its label, what runs it, and one forward pass on fixed inputs."""

    label: str
    runtime: str  #: "pytorch", an export backend name ("onnx", "openvino"), or a recipe's own name
    precision: str
    run: Callable[[], object]
    path: str | None = None


@dataclass(frozen=True)
class BenchRow:
    """One entry's timed runs (milliseconds) and their summary; ``speedup`` is the first entry's median over
    this one's (1.0 for the first; above 1 is faster)."""

    label: str
    runtime: str
    precision: str
    path: str | None
    times_ms: tuple[float, ...]
    speedup: float

    @property
    def median_ms(self) -> float:
        return statistics.median(self.times_ms)

    @property
    def quartiles_ms(self) -> tuple[float, float]:
        """The 25th and 75th percentiles of the timed runs (the interquartile range)."""
        low, high = np.percentile(self.times_ms, [25, 75])
        return float(low), float(high)

    def to_dict(self) -> dict[str, object]:
        low, high = self.quartiles_ms
        return {**asdict(self), "times_ms": list(self.times_ms), "median_ms": self.median_ms, "q1_ms": low,
                "q3_ms": high, "min_ms": min(self.times_ms), "max_ms": max(self.times_ms)}


@dataclass(frozen=True)
class BenchResult:
    """Every entry measured in one run, and what it ran under (CPU model and ISA flags, threads, shapes)."""

    rows: tuple[BenchRow, ...]
    threads: int
    batch_size: int
    seq_len: int
    warmup: int
    rounds: int
    repeats: int
    cpu: str = field(default_factory=cpu_description)
    versions: dict[str, str] = field(default_factory=lambda: _versions())

    def row(self, label: str) -> BenchRow:
        """The row labelled ``label``."""
        for row in self.rows:
            if row.label == label:
                return row
        raise KeyError(f"No row labelled {label!r}; the labels are {[row.label for row in self.rows]}.")

    def to_dict(self) -> dict[str, object]:
        return {"cpu": self.cpu, "threads": self.threads, "batch_size": self.batch_size, "seq_len": self.seq_len,
                "warmup": self.warmup, "rounds": self.rounds, "repeats": self.repeats, "versions": self.versions,
                "rows": [row.to_dict() for row in self.rows]}

    def to_json(self, path: str | Path) -> Path:
        """Write :meth:`to_dict` to ``path`` atomically."""
        path = Path(path)
        atomic_write(path, json.dumps(self.to_dict(), indent=2) + "\n")
        return path

    def table(self) -> str:
        """The rows as a text table: median, interquartile range, minimum, and speed-up against the first."""
        width = max(len("entry"), *(len(row.label) for row in self.rows))
        lines = [f"CPU: {self.cpu}",
                 f"threads {self.threads}, batch {self.batch_size}, sequence length {self.seq_len}; {self.warmup} "
                 f"warm-up, {self.rounds} alternating rounds x {self.repeats} runs per entry",
                 f"{'entry':<{width}}  {'median ms':>10}  {'IQR ms':>17}  {'min ms':>9}  {'vs first':>8}"]
        for row in self.rows:
            low, high = row.quartiles_ms
            lines.append(f"{row.label:<{width}}  {row.median_ms:>10.2f}  {f'{low:.2f}-{high:.2f}':>17}  "
                         f"{min(row.times_ms):>9.2f}  {row.speedup:>7.2f}x")
        return "\n".join(lines)


def measure(targets: Sequence[BenchTarget], *, threads: int, batch_size: int, seq_len: int, warmup: int = 2,
            rounds: int = 5, repeats: int = 5) -> BenchResult:
    """Run each target ``warmup`` times untimed, then ``rounds`` rounds in which every target runs ``repeats``
    timed forward passes, round-robin (each round starts one target later). PyTorch runs ``threads`` intra-op
    threads; the targets' sessions must have been opened with the same count. ``batch_size`` and ``seq_len``
    are recorded: the targets' inputs must have that shape."""
    if not targets:
        raise BenchError("Nothing to benchmark: no targets.")
    check_bench_settings(batch_size=batch_size, seq_len=seq_len, warmup=warmup, rounds=rounds, repeats=repeats)
    times: list[list[float]] = [[] for _ in targets]
    with torch_threads(threads), torch.inference_mode():
        for target in targets:
            for _ in range(warmup):
                target.run()
        for start in range(rounds):
            for index in [(start + step) % len(targets) for step in range(len(targets))]:
                for _ in range(repeats):
                    began = time.perf_counter()
                    targets[index].run()
                    times[index].append((time.perf_counter() - began) * 1e3)
    first = statistics.median(times[0])
    rows = tuple(BenchRow(t.label, t.runtime, t.precision, t.path, tuple(ms), first / statistics.median(ms))
                 for t, ms in zip(targets, times))
    return BenchResult(rows, threads, batch_size, seq_len, warmup, rounds, repeats)


def measure_models(models: dict[str, torch.nn.Module], inputs: dict[str, torch.Tensor], *,
                   threads: int | None = None, warmup: int = 2, rounds: int = 5, repeats: int = 5) -> BenchResult:
    """Time in-memory PyTorch models side by side on the same ``inputs`` (see :func:`measure`); rows are labelled
    by the keys of ``models``, the first is the reference. ``threads`` defaults to torch's current count."""
    shape = next(iter(inputs.values())).shape
    if len(shape) != 2:
        raise BenchError(f"inputs must be batch x sequence tensors; the first has shape {tuple(shape)}.")
    targets = [BenchTarget(label, "pytorch", "fp32", bound_model(model.eval(), inputs))
               for label, model in models.items()]
    return measure(targets, threads=torch.get_num_threads() if threads is None else threads, batch_size=shape[0],
                   seq_len=shape[1], warmup=warmup, rounds=rounds, repeats=repeats)


def check_bench_settings(**settings: int) -> None:
    """Raise :class:`BenchError` unless every count is at least 1 (``warmup``: 0)."""
    for name, value in settings.items():
        if value < (0 if name == "warmup" else 1):
            raise BenchError(f"{name} must be at least {0 if name == 'warmup' else 1}, not {value}.")


def bound_model(model: torch.nn.Module, inputs: dict[str, torch.Tensor]) -> Callable[[], object]:
    """One forward pass of ``model`` on ``inputs``."""
    return lambda: model(**inputs)


def _versions() -> dict[str, str]:
    found = {}
    for package in _PACKAGES:
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return found
