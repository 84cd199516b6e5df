"""Measured inference latency of an architecture variant (random weights, CPU, PyTorch)."""

from __future__ import annotations

import gc
import logging
import statistics
import time
from dataclasses import asdict, dataclass, replace
from typing import Any

import torch
from torch import nn
from transformers import AutoModel, PretrainedConfig
from transformers.initialization import no_init_weights

from ..hardware import cpu_description
from ..torch_context import torch_threads

logger = logging.getLogger(__name__)

#: Runtimes :func:`measure_latency` can time; ONNX Runtime and OpenVINO come later.
RUNTIMES: tuple[str, ...] = ("pytorch",)
_FILL_BLOCK = 1 << 16
#: Slowest / fastest timed run above which the CPU was probably shared with other work during the measurement.
_NOISY_SPREAD = 1.5


@dataclass(frozen=True)
class LatencySettings:
    """How latency is measured: input shape, CPU threads (``None``: PyTorch's current count), runtime,
    untimed warm-up runs and timed repeats (the median is reported)."""

    batch_size: int = 1
    seq_len: int = 128
    threads: int | None = None
    runtime: str = "pytorch"
    warmup: int = 2
    repeats: int = 5

    def __post_init__(self) -> None:
        for name in ("batch_size", "seq_len", "repeats"):
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
        if self.runtime not in RUNTIMES:
            raise ValueError(
                f"LatencySettings.runtime {self.runtime!r} is not supported; use one of {list(RUNTIMES)} "
                "(ONNX Runtime and OpenVINO are planned, not yet available)."
            )

    def resolved(self) -> "LatencySettings":
        """These settings with ``threads`` filled in from ``torch.get_num_threads()`` where unset."""
        return self if self.threads is not None else replace(self, threads=torch.get_num_threads())

    def fingerprint(self) -> dict[str, Any]:
        """Everything a latency figure depends on, for cache keys: resolved settings, CPU, torch version."""
        return {**asdict(self.resolved()), "cpu": cpu_description(), "torch": torch.__version__}


@dataclass(frozen=True)
class LatencyMeasurement:
    """Median and every timed run (milliseconds) of one configuration under ``settings`` (resolved)."""

    median_ms: float
    times_ms: tuple[float, ...]
    settings: LatencySettings


def random_model(config: PretrainedConfig, seed: int = 0) -> nn.Module:
    """The base ``AutoModel`` of ``config`` in eval mode with small random weights, built fast.

    Transformers' weight initialisation takes seconds on large models; it is skipped and every parameter is
    filled by tiling one block of N(0, 0.02) values (finite, never denormal in practice), which times the same.
    """
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


def measure_latency(config: PretrainedConfig, settings: LatencySettings = LatencySettings()) -> LatencyMeasurement:
    """Time forward passes of ``config``'s base model on random weights and random token ids.

    Measure on an otherwise idle machine: other busy processes inflate every run, not just a few (with as many
    threads as cores, PyTorch's thread pool can run 10-100x slower), so the median does not protect against them.
    """
    settings = settings.resolved()
    model = random_model(config)
    generator = torch.Generator().manual_seed(0)
    shape = (settings.batch_size, settings.seq_len)
    inputs = {
        "input_ids": torch.randint(0, config.vocab_size, shape, generator=generator),
        "attention_mask": torch.ones(shape, dtype=torch.long),
    }
    times_ms = []
    try:
        with torch_threads(settings.threads), torch.inference_mode():
            for _ in range(settings.warmup):
                model(**inputs)
            for _ in range(settings.repeats):
                start = time.perf_counter()
                model(**inputs)
                times_ms.append((time.perf_counter() - start) * 1e3)
    finally:
        del model
        gc.collect()
    median = statistics.median(times_ms)
    logger.debug("Measured %s: median %.2f ms over %d runs.", type(config).__name__, median, len(times_ms))
    if max(times_ms) > _NOISY_SPREAD * min(times_ms):
        logger.warning(
            "Timed runs of %s range from %.1f to %.1f ms: the CPU was probably busy with other work. "
            "Measure on an otherwise idle machine, or raise LatencySettings.repeats.",
            type(config).__name__, min(times_ms), max(times_ms),
        )
    return LatencyMeasurement(median, tuple(times_ms), settings)
