"""The search strategies over candidates with known size and cost and an expensive error, and the score cache."""

from ..plugins import deprecated_view
from .cache import ScoreCache
from .fptas import (
    STRATEGY_REGISTRY, Candidate, SearchOutcome, Strategy, UnknownStrategyError, check_epsilon, fptas,
    interval_strategy, register_strategy,
)

__all__ = [
    "Candidate", "STRATEGY_REGISTRY", "ScoreCache", "SearchOutcome", "Strategy", "UnknownStrategyError",
    "check_epsilon", "fptas", "interval_strategy", "register_strategy",
]

__getattr__ = deprecated_view(__name__, "STRATEGIES", STRATEGY_REGISTRY,
                              "STRATEGY_REGISTRY (names(), get()) and register_strategy")
