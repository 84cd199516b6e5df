"""Latency: the settings and runtimes a figure depends on (:mod:`.settings`), timing models one by one or side by
side (:mod:`.timing`), which models a search times and in what rounds (:mod:`.sampling`), the predictor fitted
on them (:mod:`.predictor`) and every candidate's latency with its noise checks (:mod:`.model`)."""

from __future__ import annotations

from ..lazy import moved
from .contention import CpuLoad, ThreadChoice, choose_threads, cpu_load
from .model import LatencyModel, LatencyNoiseError
from .predictor import LatencyPredictor, LatencySample, choose_sample
from .sampling import CachedTimingStore, RoundsMeasurer
from .settings import (
    INT8_RUNTIMES, RUNTIME_SPECS, LatencyRuntime, LatencySettings, RuntimeNotAvailableError, RuntimeSpec,
    available_memory_bytes, cpu_description, get_runtime, register_runtime, runtime_names,
)
from .timing import (
    BenchError, BenchResult, BenchRow, BenchTarget, LatencyMeasurement, ModelTooLargeError, measure,
    measure_latency, measure_models, random_model,
)

__all__ = [
    "BenchError", "BenchResult", "BenchRow", "BenchTarget", "CachedTimingStore", "CpuLoad", "INT8_RUNTIMES",
    "LatencyMeasurement", "LatencyModel", "LatencyNoiseError", "LatencyPredictor", "LatencyRuntime",
    "LatencySample", "LatencySettings", "ModelTooLargeError", "RUNTIME_SPECS", "RoundsMeasurer",
    "RuntimeNotAvailableError", "RuntimeSpec", "ThreadChoice", "available_memory_bytes", "choose_sample",
    "choose_threads", "cpu_description", "cpu_load", "get_runtime", "measure", "measure_latency", "measure_models",
    "moved", "random_model", "register_runtime", "runtime_names",
]
