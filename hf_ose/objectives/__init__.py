"""The search's size, FLOPs (counted) and error (pluggable) objectives; latency lives in :mod:`hf_ose.latency`."""

from .counting import StaticCost, StaticCostCounter, measure_static_cost
from .error import DataFreePrior, ErrorObjective, as_error_objective

__all__ = [
    "DataFreePrior", "ErrorObjective", "StaticCost", "StaticCostCounter", "as_error_objective", "measure_static_cost",
]
