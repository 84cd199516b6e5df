"""The search strategies: the FPTAS (an epsilon-Pareto set with few error evaluations) and the paper's
interval strategy, over candidates whose size ``p`` and cost ``i`` are known and whose error is expensive.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence

import numpy as np

from ..architecture import MONOTONE_PARAMETERS, Architecture
from ..exceptions import HfOseError
from ..plugins import Registry, deprecated_view


@dataclass(frozen=True)
class Candidate:
    """One architecture with its cheap objectives: size ``p`` and inference cost ``i`` (both positive)."""

    arch: Architecture
    p: float
    i: float


@dataclass
class SearchOutcome:
    """What a strategy evaluated, skipped and returned (indices into the candidate list)."""

    errors: dict[int, float] = field(default_factory=dict)
    failed: dict[int, str] = field(default_factory=dict)
    covered_by: dict[int, int] = field(default_factory=dict)
    front: list[int] = field(default_factory=list)
    evaluation_bound: int = 0
    comparable_pairs: int = 0
    monotonicity_violations: list[tuple[int, int]] = field(default_factory=list)

    @property
    def evaluations(self) -> int:
        """Error evaluations spent (failed ones included)."""
        return len(self.errors) + len(self.failed)


#: Scores a batch of candidate indices, yielding one error per index, in order.
Evaluate = Callable[[Sequence[int]], Iterable[float]]


def fptas(candidates: Sequence[Candidate], evaluate: Evaluate, epsilon: float, *, batch_size: int = 1) -> SearchOutcome:
    """An epsilon-approximate Pareto front over (p, i, e), evaluating e as rarely as the guarantee allows.

    **Assumption (monotonicity).** If y dominates x in the architecture order (``Architecture.dominates``:
    at least as deep, wide and with as large a feed-forward layer, equal elsewhere) then e(y) <= e(x).

    **Guarantee.** Under that assumption, every candidate x whose evaluation did not fail is covered by a
    returned y with p(y) <= (1+eps) p(x), i(y) <= (1+eps) i(x) and e(y) <= e(x). The guarantee is relative to
    ``evaluate`` as given (e.g. a surrogate at a fixed number of steps), not to fully trained models.

    **How.** Candidates are visited so that every candidate comes after those that dominate it. LB(x), the
    largest error among evaluated candidates dominating x, is a lower bound on e(x). x is skipped when some
    evaluated z has p(z) <= (1+eps) p(x), i(z) <= (1+eps) i(x) and e(z) <= LB(x); otherwise it is evaluated.
    The non-dominated set of the evaluated candidates is returned. A candidate whose error is not finite is
    recorded in ``failed`` and takes no further part (it neither bounds nor covers others). The assumption is
    checked on what was evaluated: ``monotonicity_violations`` lists the evaluated pairs (y, x), y dominating
    x, with e(y) > e(x), out of ``comparable_pairs``; where there are any, skipped candidates may have been
    better than their cover, and the caller should say so.

    **Batches.** With ``batch_size`` b > 1, up to b candidates that cannot be skipped yet are evaluated together
    (e.g. on b workers); a batch never holds a candidate together with one that dominates it. The guarantee
    and the bound below hold for every b; the evaluations spent may grow a little with b (a candidate that an
    earlier member of its batch would have let us skip is evaluated anyway). For a given b the result does
    not depend on who evaluates the batches.

    **Cost.** Put each candidate in the cell (floor(log_{1+eps} p), floor(log_{1+eps} i)). Two candidates of
    one cell where one dominates the other are never both evaluated, so evaluations are at most the sum over
    cells of the cell's width (its largest set of mutually non-dominating candidates):
    O(log P log I / eps^2) cells times the width of the order, and ``evaluate`` is called at most that often.
    (A failed evaluation, see below, can add to that count.) The bookkeeping is O(n^2) comparisons. As eps -> 0 nothing is skipped that is not weakly dominated in
    (p, i, e), so the exact front is returned.
    """
    check_epsilon(epsilon)
    outcome = SearchOutcome(evaluation_bound=evaluation_bound(candidates, epsilon))
    n = len(candidates)
    p = np.array([c.p for c in candidates], dtype=float)
    i = np.array([c.i for c in candidates], dtype=float)
    monotone = np.array([[getattr(c.arch, name) for name in MONOTONE_PARAMETERS] for c in candidates], dtype=float)
    kinds = {kind: k for k, kind in enumerate(sorted({_non_monotone(c.arch) for c in candidates}, key=str))}
    others = np.array([kinds[_non_monotone(c.arch)] for c in candidates])
    evaluated = np.zeros(n, dtype=bool)
    errors = np.full(n, np.inf)
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}.")

    def dominating(x: int) -> np.ndarray:
        return (others == others[x]) & np.all(monotone >= monotone[x], axis=1)

    def cover(x: int) -> int | None:
        dominators = evaluated & dominating(x)
        if not dominators.any():
            return None
        lower_bound = errors[dominators].max()
        covers = evaluated & (p <= (1 + epsilon) * p[x]) & (i <= (1 + epsilon) * i[x]) & (errors <= lower_bound)
        return int(np.flatnonzero(covers)[np.argmin(errors[covers])]) if covers.any() else None

    order, position = _dominators_first(candidates), 0
    while position < n:
        batch: list[int] = []
        while position < n and len(batch) < batch_size:
            x = order[position]
            if batch and dominating(x)[batch].any():
                break  # wait for the dominating member's error: it may let us skip x
            position += 1
            coverer = cover(x)
            if coverer is None:
                batch.append(x)
            else:
                outcome.covered_by[x] = coverer
        for x, error in zip(batch, evaluate(batch)):
            if _record(outcome, x, error):
                evaluated[x], errors[x] = True, error
    outcome.front = pareto_indices(candidates, outcome.errors)
    _check_monotonicity(outcome, evaluated, errors, dominating)
    return outcome


def interval_strategy(candidates: Sequence[Candidate], evaluate: Evaluate, epsilon: float, *, batch_size: int = 1) -> SearchOutcome:
    """The FPTAS paper's own variant, for comparison: sort by p, cut into ceil(1/eps) intervals of equal
    count, evaluate the cheapest (lowest i) candidate of each, return the non-dominated evaluated ones.

    It offers no coverage guarantee; ``evaluation_bound`` is its exact count, ceil(1/eps). Its evaluations
    are independent, so they form one batch whatever ``batch_size`` is.
    """
    check_epsilon(epsilon)
    order = sorted(range(len(candidates)), key=lambda k: (candidates[k].p, candidates[k].i, candidates[k].arch))
    intervals = np.array_split(np.array(order), min(len(order), math.ceil(1 / epsilon)))
    outcome = SearchOutcome(evaluation_bound=len(intervals))
    chosen = [
        min(interval.tolist(), key=lambda k: (candidates[k].i, candidates[k].p, candidates[k].arch))
        for interval in intervals
    ]
    for k, error in zip(chosen, evaluate(chosen)):
        _record(outcome, k, error)
    outcome.front = pareto_indices(candidates, outcome.errors)
    return outcome


#: A search strategy: ``strategy(candidates, evaluate, epsilon, *, batch_size)`` -> :class:`SearchOutcome`.
Strategy = Callable[..., SearchOutcome]


class UnknownStrategyError(HfOseError, ValueError):
    """No search strategy of that name is registered, or a strategy's name is taken."""


#: Search strategies by name (``OSEExtractor(strategy=...)``); :func:`register_strategy` adds more, and installed
#: packages offer theirs through the ``hf_ose.search_strategies`` entry-point group.
STRATEGY_REGISTRY: Registry[Strategy] = Registry(
    kind="search strategy", error=UnknownStrategyError, group="hf_ose.search_strategies",
    register_call="hf_ose.search.register_strategy",
)


def register_strategy(strategy: Strategy, name: str | None = None, *, overwrite: bool = False) -> Strategy:
    """Make ``strategy`` selectable as ``OSEExtractor(strategy=name)`` (default name: the function's name); it
    is called like :func:`fptas`. A name taken by another strategy is refused unless ``overwrite=True``."""
    if not callable(strategy):
        raise UnknownStrategyError(f"register_strategy takes a function like hf_ose.search.fptas, got {strategy!r}.")
    return STRATEGY_REGISTRY.register(strategy, name or strategy.__name__, overwrite=overwrite)


register_strategy(fptas)
register_strategy(interval_strategy, "interval")


def pareto_indices(candidates: Sequence[Candidate], errors: dict[int, float]) -> list[int]:
    """The indices in ``errors`` not dominated in (p, i, e); among exact ties, the first index is kept."""
    points = sorted(errors, key=lambda k: (candidates[k].p, candidates[k].i, errors[k], k))
    front: list[int] = []
    for k in points:
        c = candidates[k]
        if not any(
            candidates[f].p <= c.p and candidates[f].i <= c.i and errors[f] <= errors[k] for f in front
        ):
            front.append(k)
    return front


def evaluation_bound(candidates: Sequence[Candidate], epsilon: float) -> int:
    """Sum over (p, i) cells of the cell's width in the architecture order (see :func:`fptas`)."""
    cells: dict[tuple[int, int], list[int]] = defaultdict(list)
    for k, c in enumerate(candidates):
        cells[(_cell(c.p, epsilon), _cell(c.i, epsilon))].append(k)
    return sum(_width([candidates[k].arch for k in members]) for members in cells.values())


def check_epsilon(epsilon: float) -> None:
    """Refuse an epsilon that is not a number in (0, 1], saying what to pass instead."""
    if isinstance(epsilon, bool) or not isinstance(epsilon, (int, float)):
        raise ValueError(
            f"epsilon must be a number, got {epsilon!r} (a {type(epsilon).__name__}): pass a number in (0, 1] "
            "such as epsilon=0.1."
        )
    if not 0 < epsilon <= 1:
        raise ValueError(f"epsilon must be in (0, 1], got {epsilon!r}: e.g. 0.1 for a front within 10%.")


# ---- helpers ---------------------------------------------------------------------------------------------
def _record(outcome: SearchOutcome, k: int, error: float) -> bool:
    """Record candidate k's error; a non-finite one is recorded as a failure (False) and the search goes on."""
    error = float(error)
    if not math.isfinite(error):
        outcome.failed[k] = f"non-finite error {error}"
        return False
    outcome.errors[k] = error
    return True


def _check_monotonicity(outcome: SearchOutcome, evaluated: np.ndarray, errors: np.ndarray,
                        dominating: Callable[[int], np.ndarray]) -> None:
    """Record the evaluated pairs that the order compares, and those where the dominating one errs more."""
    for x in np.flatnonzero(evaluated):
        above = evaluated & dominating(int(x))
        above[x] = False
        outcome.comparable_pairs += int(above.sum())
        outcome.monotonicity_violations += [(int(y), int(x)) for y in np.flatnonzero(above & (errors > errors[x]))]


def _non_monotone(arch: Architecture) -> tuple:
    return tuple(v for name, v in vars(arch).items() if name not in MONOTONE_PARAMETERS)


def _dominators_first(candidates: Sequence[Candidate]) -> list[int]:
    """A visiting order in which every candidate comes after all candidates that dominate it."""
    maxima = [max(getattr(c.arch, name) for c in candidates) for name in MONOTONE_PARAMETERS]
    def size(k: int) -> float:
        return sum(getattr(candidates[k].arch, name) / top for name, top in zip(MONOTONE_PARAMETERS, maxima))
    return sorted(range(len(candidates)), key=lambda k: (-size(k), -candidates[k].p, -candidates[k].i, candidates[k].arch))


def _cell(value: float, epsilon: float) -> int:
    return math.floor(math.log(value) / math.log1p(epsilon) + 1e-9)


def _width(archs: list[Architecture]) -> int:
    """The largest set of mutually non-dominating architectures (Dilworth: n minus a maximum matching)."""
    n = len(archs)
    above = [[j for j in range(n) if j != k and archs[j] != archs[k] and archs[j].dominates(archs[k])] for k in range(n)]
    match: dict[int, int] = {}

    def augment(k: int, seen: set[int]) -> bool:
        for j in above[k]:
            if j not in seen:
                seen.add(j)
                if j not in match or augment(match[j], seen):
                    match[j] = k
                    return True
        return False

    return n - sum(augment(k, set()) for k in range(n))


__getattr__ = deprecated_view(__name__, "STRATEGIES", STRATEGY_REGISTRY,
                              "STRATEGY_REGISTRY (names(), get()) and register_strategy")
