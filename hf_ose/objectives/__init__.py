"""The search's three objectives: size and FLOPs (counted), latency (measured and predicted), error (pluggable)."""

from .counting import StaticCost, StaticCostCounter, measure_static_cost
from .error import DataFreePrior, ErrorObjective, as_error_objective
from .latency import LatencyMeasurement, LatencySettings, ModelTooLargeError, measure_latency
from .latency_model import LatencyModel, LatencyNoiseError
from .latency_predictor import LatencyPredictor, LatencySample, choose_sample
from .runtimes import LatencyRuntime, RuntimeNotAvailableError, get_runtime, register_runtime, runtime_names

__all__ = [
    "DataFreePrior", "ErrorObjective", "LatencyMeasurement", "LatencyModel", "LatencyNoiseError", "LatencyPredictor",
    "LatencyRuntime", "LatencySample", "LatencySettings", "ModelTooLargeError", "RuntimeNotAvailableError",
    "StaticCost", "StaticCostCounter", "as_error_objective", "choose_sample", "get_runtime", "measure_latency",
    "measure_static_cost", "register_runtime", "runtime_names",
]
