"""``OSEExtractor``: any AutoModel config in, Pareto-optimal ``PretrainedConfig`` variants out."""

from __future__ import annotations

import logging
import math
import time
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterator

from tqdm.auto import tqdm
from transformers import PretrainedConfig

from .architecture import Architecture
from .executors import Executor, InProcessExecutor
from .front import ParetoFront
from .objectives.counting import ABnCReport, StaticCost, StaticCostCounter, abnc_report
from .objectives.error import ErrorObjective, as_error_objective
from .latency import CachedTimingStore, LatencyModel, LatencySettings, choose_threads, measure_latency
from .parent import ParentSpec, load_parent_config
from .record import Monotonicity, ParentSummary, ParetoPoint, ReferencePoint, SearchRecord, SearchSettings
from .search.cache import ScoreCache, digest
from .search.fptas import STRATEGY_REGISTRY, Candidate, check_epsilon
from .space import ArchitectureSpace, GridSpec

logger = logging.getLogger(__name__)


@dataclass
class Objectives:
    """The three objectives' settings.

    ``error``: an :class:`ErrorObjective` or any ``callable(config) -> float``; ``None`` is the data-free
    prior. Inference cost is latency under ``latency``: measured on ``latency_samples`` candidates spread
    over the FLOPs range (and on the parent), predicted for the rest. FLOPs use the same batch and length.
    """

    error: ErrorObjective | Callable[[PretrainedConfig], float] | None = None
    latency: LatencySettings = field(default_factory=LatencySettings)
    latency_samples: int = 12

    def __post_init__(self) -> None:
        if self.latency_samples < 3:
            raise ValueError(f"latency_samples must be at least 3 (fit and held-out check), not {self.latency_samples}.")
        self.error = as_error_objective(self.error)


@dataclass(frozen=True)
class CheapObjectives:
    """Size, FLOPs and latency of every candidate (same order as ``archs``), before any error evaluation."""

    archs: list[Architecture]
    costs: list[StaticCost]
    parent_cost: StaticCost
    latency: LatencyModel
    candidates: list[Candidate]


class OSEExtractor:
    """Optimal subarchitecture extraction over a parent's architecture space.

    ``parent``: a ``PretrainedConfig``, a model, a local folder, a built-in preset (``hf_ose.PRESETS``) or a
    Hub id. ``space``: ``"auto"`` (derived from the parent), ``"bort"``, a dict of parameter -> values, a
    JSON file or a :class:`~hf_ose.space.Grid`. ``epsilon`` in (0, 1]: the front's approximation factor.
    ``cache_dir``: where every scored candidate is recorded, so a killed search resumes where it stopped.
    ``strategy``: ``"fptas"`` (the guarantee), ``"interval"`` (the FPTAS paper's variant, no guarantee), or
    one added with :func:`hf_ose.search.register_strategy`.
    ``executor``: where error evaluations run (:class:`~hf_ose.executors.InProcessExecutor` by default, a
    :class:`~hf_ose.executors.LocalProcessExecutor`, or ``hf_ose.integrations.ray_executor.RayExecutor``);
    ``batch_size`` candidates are scored together (default: the executor's worker count). For a given
    ``batch_size`` the front is the same whichever executor scores it.
    """

    def __init__(
        self,
        parent: ParentSpec,
        *,
        space: GridSpec = None,
        epsilon: float = 0.1,
        objectives: Objectives | None = None,
        cache_dir: str | Path | None = None,
        strategy: str = "fptas",
        executor: Executor | None = None,
        batch_size: int | None = None,
    ) -> None:
        check_epsilon(epsilon)
        STRATEGY_REGISTRY.check_name(strategy)
        self.parent = load_parent_config(parent)
        self.space = ArchitectureSpace(self.parent, space)
        self.epsilon = epsilon
        self.objectives = objectives or Objectives()
        self.strategy = strategy
        self.executor = executor or InProcessExecutor()
        self.batch_size = batch_size or self.executor.workers
        self.latency_settings = self.objectives.latency.resolved()
        self.cache = ScoreCache(cache_dir, {"parent": parent_fingerprint(self.parent)})
        self._cached_hits = 0
        self._cheap: CheapObjectives | None = None
        self._counter = StaticCostCounter(
            self.parent, batch_size=self.latency_settings.batch_size, seq_len=self.latency_settings.seq_len
        )

    def abnc_report(self) -> ABnCReport:
        """How the parent's parameters and FLOPs split into input layer, blocks and output layer."""
        settings = self.latency_settings
        return abnc_report(self.parent, batch_size=settings.batch_size, seq_len=settings.seq_len)

    def cheap_objectives(self, progress: bool | None = None) -> CheapObjectives:
        """Exact size and FLOPs of every candidate and the parent, and their latency (measured on a sample,
        predicted for the rest). Computed once per extractor."""
        if self._cheap is None:
            disable = None if progress is None else not progress
            archs = self.space.candidates
            parent_arch = self.space.parent_architecture
            costs = [self._counter(a) for a in tqdm(archs, desc="params and FLOPs", disable=disable)]
            parent_cost = self._counter(parent_arch)
            latency = self._latency_model(archs, costs, parent_arch, parent_cost, disable)
            candidates = [Candidate(a, float(c.params), latency.latency_ms(k)) for k, (a, c) in enumerate(zip(archs, costs))]
            self._cheap = CheapObjectives(archs, costs, parent_cost, latency, candidates)
        return self._cheap

    def extract(self, progress: bool | None = None) -> ParetoFront:
        """Run the search and return the front. ``progress=None`` shows progress bars on a terminal only."""
        started = time.perf_counter()
        self._cached_hits = 0
        report = self.abnc_report()
        if not report.holds:
            warnings.warn(f"The AB^nC property does not hold for the parent: {report.reason}", stacklevel=2)
        cheap = self.cheap_objectives(progress)
        archs, costs, parent_cost, latency = cheap.archs, cheap.costs, cheap.parent_cost, cheap.latency
        parent_arch = self.space.parent_architecture

        bar = tqdm(desc="error evaluations", disable=None if progress is None else not progress, unit="eval")
        outcome = STRATEGY_REGISTRY.get(self.strategy)(
            cheap.candidates, lambda ks: self._errors([archs[k] for k in ks], bar), self.epsilon,
            batch_size=self.batch_size,
        )
        bar.close()

        error_objective = self.objectives.error
        points = [
            ParetoPoint(
                config=self.space.config(archs[k]),
                architecture=archs[k],
                params=costs[k].params,
                effective_params=costs[k].effective_params,
                flops=costs[k].flops,
                latency_ms=latency.latency_ms(k),
                error=outcome.errors[k],
                latency_source=latency.source(k),
                error_source=("prior: " if error_objective.is_prior else "measured: ") + error_objective.name,
            )
            for k in outcome.front
        ]
        reference = ReferencePoint(parent_cost.params, latency.parent_latency_ms, self._parent_error())
        violations = [f"{archs[y]} > {archs[x]}" for y, x in outcome.monotonicity_violations]
        record = SearchRecord(
            settings=SearchSettings(
                epsilon=self.epsilon, strategy=self.strategy, grid=self.space.grid.to_dict(),
                error_objective=error_objective.name, error_is_prior=error_objective.is_prior,
                latency_samples=self.objectives.latency_samples,
            ),
            parent=ParentSummary(self.parent.model_type, parent_arch, parent_cost.params,
                                 parent_cost.effective_params, parent_cost.flops),
            candidates=len(archs),
            dropped=dict(self.space.dropped),
            evaluations=outcome.evaluations,
            evaluation_bound=outcome.evaluation_bound,
            cached_evaluations=self._cached_hits,
            failed={str(archs[k]): reason for k, reason in outcome.failed.items()},
            latency=latency.report(),
            abnc=report,
            monotonicity=Monotonicity(outcome.comparable_pairs, violations),
            seconds=round(time.perf_counter() - started, 2),
        )
        if violations:
            warnings.warn(
                f"{len(violations)} of {outcome.comparable_pairs} evaluated pairs violate the monotonicity the "
                f"search assumes (a larger variant scored a higher error, e.g. {violations[0]}): candidates it "
                "skipped may be better than their cover. Use more surrogate steps or a smaller epsilon.",
                stacklevel=2,
            )
        for arch, reason in record.failed.items():
            logger.warning("Candidate %s failed: %s; the search went on without it.", arch, reason)
        return ParetoFront(points=points, reference=reference, record=record)

    def _parent_error(self) -> float | None:
        """The parent's own error under the error objective (the base of error budgets), through the cache
        like any candidate's but not counted among the search's evaluations; ``None`` if it is not finite."""
        parent_arch = self.space.parent_architecture
        value, _ = next(self._scored([parent_arch]))
        if not math.isfinite(value):
            logger.warning("The parent's own error is %s: error budgets (max_error_increase) are unavailable.", value)
            return None
        return value

    # ---- objectives through the cache --------------------------------------------------------------------
    def _errors(self, archs: list[Architecture], bar: tqdm) -> Iterator[float]:
        """The search's errors of ``archs`` in order, counting those reused from the cache."""
        for value, cached in self._scored(archs):
            self._cached_hits += cached
            bar.update()
            yield value

    def _scored(self, archs: list[Architecture]) -> Iterator[tuple[float, bool]]:
        """Errors of ``archs`` in order, each with whether it came from the cache: cached ones at once, the rest
        from the executor, each recorded in the cache as soon as it arrives."""
        objective = self.objectives.error
        fingerprint = objective.fingerprint()
        records = [self.cache.get("error", fingerprint, arch) for arch in archs]
        missing = [arch for arch, record in zip(archs, records) if record is None]
        started = time.perf_counter()
        results = self.executor.map(objective, [self.space.config(arch) for arch in missing])
        for arch, record in zip(archs, records):
            if record is not None:
                yield float(record["value"]), True
                continue
            try:
                value = float(next(results))
            except Exception as error:
                error.add_note(f"while evaluating the error of candidate {arch}")
                raise
            self.cache.put("error", fingerprint, arch, value, seconds=round(time.perf_counter() - started, 3))
            started = time.perf_counter()
            yield value, False

    def _latency_model(
        self, archs: list[Architecture], costs: list[StaticCost], parent_arch: Architecture,
        parent_cost: StaticCost, disable: bool | None,
    ) -> LatencyModel:
        """Latency of every candidate, measured with fewer threads where other processes keep cores busy (unless
        set); each timing is recorded in the cache as it is taken, so a resumed search measures nothing twice."""
        requested = self.objectives.latency
        choice = choose_threads(requested, measured_with=lambda threads: self.cache.holds(
            CachedTimingStore.KIND, replace(requested, threads=threads).fingerprint()))
        settings = self.latency_settings = replace(self.latency_settings, threads=choice.threads)
        return LatencyModel.build(
            archs, costs, parent_arch, parent_cost, settings,
            measure=lambda arch: measure_latency(self.space.config(arch), settings).median_ms,
            cost_of=self._counter, samples=self.objectives.latency_samples,
            store=CachedTimingStore(self.cache, settings.fingerprint()), disable_progress=disable, threads=choice,
        )


def parent_fingerprint(config: PretrainedConfig) -> str:
    """A digest of the parent's config, ignoring bookkeeping fields (library version, local paths)."""
    values = {k: v for k, v in config.to_dict().items() if k != "transformers_version" and not k.startswith("_")}
    return digest(values)
