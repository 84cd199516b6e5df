"""The search's size, FLOPs (counted) and error (pluggable) objectives; latency lives in :mod:`hf_ose.latency`.

The latency names and modules this package held (``LatencySettings``, ``latency_plan``, ...) still resolve
here, with a :class:`DeprecationWarning`, for one release.
"""

from .. import latency as _latency
from ..latency import model as _model, predictor as _predictor, sampling as _sampling, settings as _settings
from ..latency import timing as _timing
from .counting import StaticCost, StaticCostCounter, measure_static_cost
from .error import DataFreePrior, ErrorObjective, as_error_objective

__all__ = [
    "DataFreePrior", "ErrorObjective", "StaticCost", "StaticCostCounter", "as_error_objective", "measure_static_cost",
]

__getattr__ = _latency.moved(
    __name__, _latency, _settings, _timing, _sampling, _predictor, _model,
    modules={"latency_plan": "hf_ose.latency.sampling", "latency_rounds": "hf_ose.latency.sampling",
             "latency_predictor": "hf_ose.latency.predictor"},
)
