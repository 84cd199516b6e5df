"""Latency: the settings and runtimes a figure depends on (:mod:`.settings`), timing models one by one or side by
side (:mod:`.timing`), which models a search times and in what rounds (:mod:`.sampling`), the predictor fitted
on them (:mod:`.predictor`) and every candidate's latency with its noise checks (:mod:`.model`)."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from importlib import import_module
from types import ModuleType
from typing import Any

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
    "BenchError", "BenchResult", "BenchRow", "BenchTarget", "CachedTimingStore", "INT8_RUNTIMES", "LatencyMeasurement",
    "LatencyModel", "LatencyNoiseError", "LatencyPredictor", "LatencyRuntime", "LatencySample", "LatencySettings",
    "ModelTooLargeError", "RUNTIME_SPECS", "RoundsMeasurer", "RuntimeNotAvailableError", "RuntimeSpec",
    "available_memory_bytes", "choose_sample", "cpu_description", "get_runtime", "measure", "measure_latency",
    "measure_models", "moved", "random_model", "register_runtime", "runtime_names",
]


def moved(old: str, *homes: ModuleType, modules: Mapping[str, str] | None = None) -> Callable[[str], Any]:
    """A module ``__getattr__`` (PEP 562) for the deprecated module ``old``: each name is taken from the first of
    ``homes`` that has it, and each of ``modules`` (old submodule name -> new module path) imported, with a
    :class:`DeprecationWarning` naming the new home."""

    modules = modules or {}

    def __getattr__(name: str) -> Any:
        found = [f"{home.__name__}.{name}" for home in homes
                 if not name.startswith("__") and not isinstance(getattr(home, name, warnings), ModuleType)]
        new = modules.get(name) or (found[0] if found else None)
        if new is None:
            raise AttributeError(f"module {old!r} has no attribute {name!r}")
        warnings.warn(f"{old}.{name} has moved to {new}; the old path goes in the next release.", DeprecationWarning,
                      stacklevel=2)
        module, _, attribute = new.rpartition(".")
        return import_module(new) if name in modules else getattr(import_module(module), attribute)

    return __getattr__
