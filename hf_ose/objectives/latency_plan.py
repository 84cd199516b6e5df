"""How each sampled architecture's latency is obtained without building a model that does not fit in memory.

A model that fits the memory budget is timed whole. A deeper one is timed the AB^nC way the counting uses:
its input and output layers with one block and with two, extended linearly in depth,
t(D) = t(1) + (D - 1) (t(2) - t(1)), since its D blocks are identical. One that does not fit even at depth
2 is not measured; its latency is predicted, and every output says so.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from ..architecture import Architecture
from .counting import StaticCost
from .latency import LatencySettings, estimated_bytes

WHOLE = "measured"
EXTENDED = "measured (AB^nC, depths 1-2)"
PREDICTED = "predicted"


@dataclass(frozen=True)
class MeasurementPlan:
    """``method`` (:data:`WHOLE`, :data:`EXTENDED` or :data:`PREDICTED`) and the models it times (``units``)."""

    arch: Architecture
    method: str
    units: tuple[Architecture, ...]

    @property
    def measurable(self) -> bool:
        return self.method != PREDICTED

    def latency_ms(self, timing_ms: Callable[[Architecture], float]) -> float:
        """This architecture's latency from its units' latencies."""
        if self.method == WHOLE:
            return timing_ms(self.arch)
        if self.method == EXTENDED:
            return extend_in_depth(timing_ms(self.units[0]), timing_ms(self.units[1]), self.arch.depth)
        raise ValueError(f"{self.arch} cannot be measured within the memory budget; its latency is predicted.")


def extend_in_depth(depth_1_ms: float, depth_2_ms: float, depth: int) -> float:
    """t(1) + (depth - 1) (t(2) - t(1)); a block never costs less than nothing (noise can say otherwise)."""
    return depth_1_ms + (depth - 1) * max(depth_2_ms - depth_1_ms, 0.0)


def shallow_pair(arch: Architecture) -> tuple[Architecture, Architecture]:
    """``arch`` at depths 1 and 2."""
    return replace(arch, depth=1), replace(arch, depth=2)


def plan_measurement(
    arch: Architecture, cost_of: Callable[[Architecture], StaticCost], settings: LatencySettings, budget_bytes: int
) -> MeasurementPlan:
    """Time ``arch`` whole when it fits ``budget_bytes``, else at depths 1 and 2 when those fit, else predict it."""

    def fits(a: Architecture) -> bool:
        return estimated_bytes(a, cost_of(a).params, settings.batch_size, settings.seq_len) <= budget_bytes

    if fits(arch):
        return MeasurementPlan(arch, WHOLE, (arch,))
    if arch.depth > 2 and fits(shallow_pair(arch)[1]):
        return MeasurementPlan(arch, EXTENDED, shallow_pair(arch))
    return MeasurementPlan(arch, PREDICTED, ())


def extension_check_arch(plans: list[MeasurementPlan]) -> Architecture | None:
    """Where depth extension is used, the deepest-and-largest architecture timed whole (depth > 2), to time it
    the extended way too and compare; ``None`` when nothing is extended or no such architecture exists."""
    if not any(p.method == EXTENDED for p in plans):
        return None
    whole = [p.arch for p in plans if p.method == WHOLE and p.arch.depth > 2]
    return max(whole, key=lambda a: (a.depth * a.hidden * (a.hidden + a.intermediate), a), default=None)
