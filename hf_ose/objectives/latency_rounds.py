"""Whole-model latencies measured in interleaved rounds, kept in a store (the search cache) between runs.

Load on a shared machine comes in bursts that last seconds to minutes. Timing each model's runs back to back
lets one burst inflate one model; timing every model once per round, for several rounds, spreads a burst over
all of them. Load only ever adds time, so a model's latency is its fastest round (each round's figure is the
median of its timed runs), over every pass it was measured in.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from tqdm.auto import tqdm

from ..architecture import Architecture


@dataclass(frozen=True)
class Timing:
    """Every round's figure (ms) of one architecture, grouped by measuring pass."""

    rounds_ms: tuple[tuple[float, ...], ...]

    @property
    def passes(self) -> int:
        return len(self.rounds_ms)

    @property
    def ms(self) -> float:
        """The latency: the fastest round of any pass."""
        return min(min(rounds) for rounds in self.rounds_ms)

    def with_pass(self, rounds_ms: Sequence[float]) -> "Timing":
        return Timing((*self.rounds_ms, tuple(rounds_ms)))


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
    """Measures architectures in interleaved rounds through ``measure_once`` (one round's figure, ms)."""

    def __init__(
        self,
        measure_once: Callable[[Architecture], float],
        rounds: int,
        store: TimingStore | None = None,
        disable_progress: bool | None = None,
    ) -> None:
        self.measure_once = measure_once
        self.rounds = rounds
        self.store: TimingStore = store if store is not None else MemoryTimingStore()
        self.disable_progress = disable_progress

    def timing(self, arch: Architecture) -> Timing:
        timing = self.store.get(arch)
        if timing is None:
            raise KeyError(f"{arch} has not been measured; call ensure() first.")
        return timing

    def passes(self, arch: Architecture) -> int:
        timing = self.store.get(arch)
        return 0 if timing is None else timing.passes

    def ensure(self, archs: Sequence[Architecture]) -> None:
        """Measure, in one pass, those of ``archs`` the store has no timing of."""
        missing = [a for a in archs if self.store.get(a) is None]
        if missing:
            self.add_pass(missing)

    def add_pass(self, archs: Sequence[Architecture]) -> None:
        """One more pass for each of ``archs``: ``rounds`` rounds, each timing every one of them once (in
        alternating order), stored as soon as the pass is complete."""
        archs = list(dict.fromkeys(archs))
        figures: dict[Architecture, list[float]] = {a: [] for a in archs}
        with tqdm(total=self.rounds * len(archs), desc="latency (measured)", disable=self.disable_progress) as bar:
            for round_index in range(self.rounds):
                for arch in archs if round_index % 2 == 0 else reversed(archs):
                    figures[arch].append(float(self.measure_once(arch)))
                    bar.update()
        for arch in archs:
            previous = self.store.get(arch) or Timing(())
            self.store.put(arch, previous.with_pass(figures[arch]))
