"""The search strategies over candidates with known size and cost and an expensive error, and the score cache."""

from .cache import ScoreCache
from .fptas import STRATEGIES, Candidate, SearchOutcome, check_epsilon, fptas, interval_strategy

__all__ = ["Candidate", "STRATEGIES", "ScoreCache", "SearchOutcome", "check_epsilon", "fptas", "interval_strategy"]
