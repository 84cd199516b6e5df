"""Choosing a point of the front the way users decide: by a latency, speed-up, size or error budget."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Sequence

from .exceptions import HfOseError
from .record import ParetoPoint, ReferencePoint


class BudgetError(HfOseError, ValueError):
    """A budget is malformed, needs the parent's error where it is unknown, or no point of the front meets it."""


@dataclass(frozen=True)
class Budget:
    """Limits a chosen point must meet; ``None`` leaves a limit out.

    ``max_latency_ms``: latency at most this; ``min_speedup``: at least this many times faster than the parent
    (both latencies from the same run); ``max_params``: at most this many parameters; ``max_error_increase``:
    error at most the parent's error plus this (in the error objective's own units, e.g. 0.02 for two points
    of error rate).
    """

    max_latency_ms: float | None = None
    min_speedup: float | None = None
    max_params: float | None = None
    max_error_increase: float | None = None

    def __post_init__(self) -> None:
        for name, value in self.limits().items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise BudgetError(f"{name} must be a finite number, got {value!r} ({type(value).__name__}).")
            if name == "max_error_increase" and value < 0:
                raise BudgetError(f"max_error_increase must be 0 or more (an allowed increase), got {value!r}.")
            if name != "max_error_increase" and value <= 0:
                raise BudgetError(f"{name} must be positive, got {value!r}.")
        if not self.limits():
            raise BudgetError(
                "Give at least one budget: max_latency_ms, min_speedup, max_params or max_error_increase "
                "(front.best('w') is Bort's W-coefficient criterion, with no budget)."
            )

    def limits(self) -> dict[str, float]:
        """The limits that are set, by name."""
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}

    def __str__(self) -> str:
        return ", ".join(
            f"{name}={value / 1e6:g}M" if name == "max_params" else f"{name}={value:g}"
            for name, value in self.limits().items()
        )

    def criterion(self) -> str:
        """How :func:`choose` picks among the points within this budget, in words."""
        return f"{'fastest' if self.max_error_increase is not None else 'lowest error'} within {self}"

    def misses(self, point: ParetoPoint, reference: ReferencePoint) -> dict[str, float]:
        """By how much ``point`` misses each limit, relative to the limit (0 where it meets it)."""
        excess = {}
        if self.max_latency_ms is not None:
            excess["max_latency_ms"] = point.latency_ms / self.max_latency_ms - 1
        if self.min_speedup is not None:
            excess["min_speedup"] = self.min_speedup / point.speedup(reference) - 1
        if self.max_params is not None:
            excess["max_params"] = point.params / self.max_params - 1
        if self.max_error_increase is not None:
            allowed = self.allowed_error(reference)
            excess["max_error_increase"] = (point.error - allowed) / (abs(allowed) or 1.0)
        return {name: max(0.0, value) for name, value in excess.items()}

    def allowed_error(self, reference: ReferencePoint) -> float:
        """The highest error the budget allows: the parent's error plus ``max_error_increase``."""
        if reference.error is None:
            raise BudgetError(
                "max_error_increase is relative to the parent's error, which this front does not know (the "
                "parent's evaluation failed, or the front was saved before hf-ose recorded it). Re-run the "
                "search, or use max_latency_ms, min_speedup or max_params."
            )
        return reference.error + (self.max_error_increase or 0.0)


def choose(points: Sequence[ParetoPoint], reference: ReferencePoint, budget: Budget) -> ParetoPoint:
    """The point that meets every limit of ``budget``: the fastest one when an error budget is set, else the
    one with the lowest error. Raises :class:`BudgetError` naming the closest point when none meets it."""
    if not points:
        raise BudgetError("The front is empty: every evaluation failed (see front.record.failed).")
    misses = {id(point): budget.misses(point, reference) for point in points}
    within = [point for point in points if not any(misses[id(point)].values())]
    if within:
        if budget.max_error_increase is not None:
            return min(within, key=lambda p: (p.latency_ms, p.error, p.params))
        return min(within, key=lambda p: (p.error, p.latency_ms, p.params))
    closest = min(points, key=lambda p: (max(misses[id(p)].values()), p.error))
    missed = [
        f"{name} by {100 * share:.0f}% ({_value(name, closest, reference, budget)})"
        for name, share in misses[id(closest)].items() if share > 0
    ]
    raise BudgetError(
        f"No point of the front meets {budget}. The closest is {closest.architecture} ({closest.params / 1e6:.1f}M "
        f"parameters, {closest.latency_ms:.2f} ms, {closest.speedup(reference):.1f}x faster than the parent, "
        f"error {closest.error:.4g}), which misses {' and '.join(missed)}. Loosen the budget, or search a grid "
        "that reaches further."
    )


def _value(name: str, point: ParetoPoint, reference: ReferencePoint, budget: Budget) -> str:
    """The point's own value for the limit ``name``, against the limit."""
    if name == "max_latency_ms":
        return f"{point.latency_ms:.2f} ms > {budget.max_latency_ms:g} ms"
    if name == "min_speedup":
        return f"{point.speedup(reference):.2f}x < {budget.min_speedup:g}x"
    if name == "max_params":
        return f"{point.params / 1e6:.2f}M > {budget.max_params / 1e6:g}M parameters"
    return (f"error {point.error:.4g} > {budget.allowed_error(reference):.4g} "
            f"= parent {reference.error:.4g} + {budget.max_error_increase:g}")
