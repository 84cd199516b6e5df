"""Which models are timed for each sampled architecture, and how: a plan that fits the memory budget, and
timings measured in interleaved rounds, kept in a store (the search cache) between runs.

A model that fits the memory budget is timed whole. A deeper one is timed the AB^nC way the counting uses:
its input and output layers with one block and with two, extended linearly in depth,
t(D) = t(1) + (D - 1) (t(2) - t(1)), since its D blocks are identical. One that does not fit even at depth
2 is not measured; its latency is predicted, and every output says so.

Load on a shared machine comes in bursts that last seconds to minutes. Timing each model's runs back to back
lets one burst inflate one model; timing every model once per round, for several rounds, spreads a burst over
all of them. Load only ever adds time, so a model's latency is the lower quartile (:data:`ROUND_QUANTILE`) of
its rounds (each round's figure is the median of its timed runs) over every pass it was measured in: what the
unloaded rounds say, without trusting the single luckiest one. Every round's figure is stored as soon as it is
measured, so an interrupted search resumes within a pass and measures nothing twice.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

import numpy as np
from tqdm.auto import tqdm

from ..architecture import Architecture
from .settings import LatencySettings
from .timing import estimated_bytes

WHOLE = "measured"
EXTENDED = "measured (AB^nC, depths 1-2)"
PREDICTED = "predicted"
#: The quantile of a model's round figures taken as its latency.
ROUND_QUANTILE = 0.25
#: Passes (each a set of interleaved rounds) a model may be measured in at most: the first and two re-measures.
MAX_PASSES = 3


class StaticCosts(Protocol):
    """The static costs latency reads of an architecture (:class:`hf_ose.objectives.StaticCost` has them)."""

    @property
    def params(self) -> int: ...

    @property
    def effective_params(self) -> int: ...

    @property
    def flops(self) -> int: ...


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
    arch: Architecture, cost_of: Callable[[Architecture], StaticCosts], settings: LatencySettings, budget_bytes: int
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


@dataclass(frozen=True)
class Timing:
    """Every round's figure (ms) of one architecture, grouped by measuring pass (the last one may be open)."""

    rounds_ms: tuple[tuple[float, ...], ...]

    @property
    def passes(self) -> int:
        return len(self.rounds_ms)

    @property
    def ms(self) -> float:
        """The latency: the lower quartile (:data:`ROUND_QUANTILE`) of every round of every pass."""
        return float(np.quantile([ms for rounds in self.rounds_ms for ms in rounds], ROUND_QUANTILE))

    def rounds_in_last_pass(self) -> int:
        return len(self.rounds_ms[-1]) if self.rounds_ms else 0

    def with_new_pass(self) -> "Timing":
        return Timing((*self.rounds_ms, ()))

    def with_round(self, ms: float) -> "Timing":
        """These figures and ``ms``, one more round of the last pass."""
        return Timing((*self.rounds_ms[:-1], (*self.rounds_ms[-1], ms)))


class TimingStore(Protocol):
    """Where timings persist between runs (a search's cache), so a resumed search measures nothing twice."""

    def get(self, arch: Architecture) -> Timing | None: ...

    def put(self, arch: Architecture, timing: Timing) -> None: ...


class MemoryTimingStore:
    """Timings kept for this process only."""

    def __init__(self) -> None:
        self._timings: dict[Architecture, Timing] = {}

    def get(self, arch: Architecture) -> Timing | None:
        return self._timings.get(arch)

    def put(self, arch: Architecture, timing: Timing) -> None:
        self._timings[arch] = timing


class _ScoreCacheLike(Protocol):
    def get(self, kind: str, objective: dict[str, Any], arch: Architecture) -> dict[str, Any] | None: ...

    def put(self, kind: str, objective: dict[str, Any], arch: Architecture, value: float, **meta: Any) -> None: ...


class CachedTimingStore:
    """Timings as ``"latency"`` records of a search cache (``hf_ose.search.cache.ScoreCache``), keyed by the
    latency settings' fingerprint: the value is the latency, ``meta["rounds_ms"]`` every pass's rounds.
    A record without them (an older cache) is not trusted and is measured again."""

    KIND = "latency"

    def __init__(self, cache: _ScoreCacheLike, fingerprint: dict[str, Any]) -> None:
        self.cache = cache
        self.fingerprint = fingerprint

    def get(self, arch: Architecture) -> Timing | None:
        record = self.cache.get(self.KIND, self.fingerprint, arch)
        rounds = (record or {}).get("meta", {}).get("rounds_ms")
        if not rounds:
            return None
        return Timing(tuple(tuple(float(v) for v in passed) for passed in rounds))

    def put(self, arch: Architecture, timing: Timing) -> None:
        self.cache.put(self.KIND, self.fingerprint, arch, timing.ms, rounds_ms=[list(r) for r in timing.rounds_ms])


class RoundsMeasurer:
    """Measures architectures in interleaved rounds through ``measure_once`` (one round's figure, ms), at most
    ``max_passes`` passes each, storing every figure in ``store`` as soon as it is measured."""

    def __init__(
        self,
        measure_once: Callable[[Architecture], float],
        rounds: int,
        store: TimingStore | None = None,
        disable_progress: bool | None = None,
        max_passes: int = MAX_PASSES,
    ) -> None:
        self.measure_once = measure_once
        self.rounds = rounds
        self.store: TimingStore = store if store is not None else MemoryTimingStore()
        self.disable_progress = disable_progress
        self.max_passes = max_passes

    def timing(self, arch: Architecture) -> Timing:
        timing = self.store.get(arch)
        if timing is None:
            raise KeyError(f"{arch} has not been measured; call ensure() first.")
        return timing

    def passes(self, arch: Architecture) -> int:
        timing = self.store.get(arch)
        return 0 if timing is None else timing.passes

    def ensure(self, archs: Sequence[Architecture]) -> None:
        """Measure, in one pass, those of ``archs`` the store has no timing of, and finish any pass of theirs an
        interrupted run left open."""
        open_passes = {}
        for arch in dict.fromkeys(archs):
            timing = self.store.get(arch)
            if timing is None:
                open_passes[arch] = Timing(()).with_new_pass()
            elif timing.rounds_in_last_pass() < self.rounds:
                open_passes[arch] = timing
        self._measure(open_passes)

    def add_pass(self, archs: Sequence[Architecture]) -> None:
        """One more pass for each of ``archs`` that has passes to spare: ``rounds`` rounds, each timing every one
        of them once (in alternating order)."""
        timings = {a: self.store.get(a) or Timing(()) for a in dict.fromkeys(archs)}
        self._measure({a: t.with_new_pass() for a, t in timings.items() if t.passes < self.max_passes})

    def _measure(self, open_passes: dict[Architecture, Timing]) -> None:
        """Fill the open last pass of each timing in ``open_passes`` up to ``rounds`` rounds, interleaved, storing
        each figure at once; rounds an earlier run already measured are kept."""
        if not open_passes:
            return
        archs, timings = list(open_passes), dict(open_passes)
        owed = sum(self.rounds - t.rounds_in_last_pass() for t in timings.values())
        label = pass_label(max(t.passes for t in timings.values()), self.max_passes)
        with tqdm(total=owed, desc=label, disable=self.disable_progress) as bar:
            for round_index in range(self.rounds):
                for arch in archs if round_index % 2 == 0 else reversed(archs):
                    if timings[arch].rounds_in_last_pass() > round_index:
                        continue
                    timings[arch] = timings[arch].with_round(float(self.measure_once(arch)))
                    self.store.put(arch, timings[arch])
                    bar.update()


def pass_label(number: int, max_passes: int) -> str:
    """The progress bar's description of measuring pass ``number``: the first measures, later ones re-measure."""
    if number <= 1:
        return "latency: measure"
    return f"latency: re-measure pass {number}/{max_passes}"
