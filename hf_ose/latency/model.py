"""Latency for every candidate of a search: measured on a spread sample (and the parent), predicted for the rest,
with the measurements checked for noise before anything is built on them."""

from __future__ import annotations

import logging
import statistics
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..architecture import Architecture
from ..exceptions import HfOseError
from .contention import ThreadChoice
from .predictor import LatencyPredictor, LatencySample, choose_sample
from .sampling import (
    EXTENDED,
    MAX_PASSES,
    PREDICTED,
    WHOLE,
    MeasurementPlan,
    RoundsMeasurer,
    StaticCosts,
    TimingStore,
    extend_in_depth,
    extension_check_arch,
    plan_measurement,
    shallow_pair,
)
from .settings import LatencySettings
from .timing import ModelTooLargeError

logger = logging.getLogger(__name__)

#: A sample is re-measured when its leave-one-out error exceeds both this many times the median one ...
OUTLIER_RATIO = 3.0
#: ... and this fraction.
OUTLIER_FLOOR = 0.10
#: A mean held-out error above this, though under the noise limit, gets a warning that predictions are rough.
PREDICTOR_WARNING = 0.10


class LatencyNoiseError(HfOseError, RuntimeError):
    """The latency measurements do not fit one consistent model: the machine was busy while they were taken."""


@dataclass
class LatencyModel:
    """Each candidate's latency and how it was obtained (``"measured"``, ``"measured (AB^nC, depths 1-2)"`` or
    ``"predicted"``), the parent's latency, the predictor and the checks' record."""

    measured: dict[int, float]
    predicted: dict[int, float]
    parent_latency_ms: float
    predictor: LatencyPredictor | None
    settings: LatencySettings
    methods: dict[int, str] = field(default_factory=dict)
    checks: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        archs: Sequence[Architecture],
        costs: Sequence[StaticCosts],
        parent_arch: Architecture,
        parent_cost: StaticCosts,
        settings: LatencySettings,
        *,
        measure: Callable[[Architecture], float],
        cost_of: Callable[[Architecture], StaticCosts],
        samples: int,
        store: TimingStore | None = None,
        disable_progress: bool | None = None,
        threads: ThreadChoice | None = None,
    ) -> "LatencyModel":
        """Measure ``samples`` candidates spread over the FLOPs range and the parent in interleaved rounds
        (``measure``: one round's figure of one architecture; ``cost_of``: exact counts of any architecture),
        re-measure outliers (at most :data:`MAX_PASSES` passes), check the fit for noise, and predict the rest.
        ``threads``: how ``settings.threads`` was chosen (:func:`~hf_ose.latency.contention.choose_threads`), for
        the record.

        Raises :class:`LatencyNoiseError` when the held-out error stays above ``settings.max_held_out_error``
        (``on_noise="warn"``: warns instead).
        """
        settings = settings.resolved()
        index = {arch: k for k, arch in enumerate(archs)}
        sampled = [archs[k] for k in choose_sample([c.flops for c in costs], samples)]
        known = {**{a: costs[index[a]] for a in sampled}, parent_arch: parent_cost}
        budget = settings.memory_budget_bytes()
        plans = {
            a: plan_measurement(a, lambda x: known[x] if x in known else cost_of(x), settings, budget)
            for a in dict.fromkeys([*sampled, parent_arch])
        }
        fit_plans = [p for p in plans.values() if p.measurable]
        features = len(LatencyPredictor(settings).features)
        every_candidate = len(fit_plans) == len(plans) and all(a in plans for a in archs)
        if len(fit_plans) < features and not every_candidate:
            raise ModelTooLargeError(
                f"Only {len(fit_plans)} of the {len(plans)} sampled architectures can be measured within the latency "
                f"memory budget of {budget / 1e9:.1f} GB; a latency predictor needs at least {features}. Raise "
                "LatencySettings.memory_budget_gb or Objectives.latency_samples."
            )

        check_arch = extension_check_arch(list(plans.values()))
        measurer = RoundsMeasurer(measure, settings.rounds, store, disable_progress, MAX_PASSES)
        measurer.ensure([u for p in fit_plans for u in p.units] + list(shallow_pair(check_arch) if check_arch else ()))
        checkable = len(fit_plans) > features  # leave-one-out needs one sample more than there are features
        remeasured = _remeasure_outliers(fit_plans, measurer, settings, known) if checkable else []
        values = {p.arch: p.latency_ms(lambda u: measurer.timing(u).ms) for p in fit_plans}
        fit_on = [_sample(a, known[a], ms) for a, ms in values.items()]
        predictor = LatencyPredictor(settings).fit(fit_on) if len(fit_on) >= features else None

        methods = {index[a]: plans[a].method for a in values if a in index}
        measured = {k: values[archs[k]] for k in methods}
        predicted = {
            k: predictor.predict(arch, cost.params, cost.effective_params, cost.flops)
            for k, (arch, cost) in enumerate(zip(archs, costs)) if k not in measured
        } if predictor else {}
        parent_ms = values.get(parent_arch)
        if parent_ms is None:
            cost = parent_cost
            parent_ms = predictor.predict(parent_arch, cost.params, cost.effective_params, cost.flops)
        checks = {
            "rounds": settings.rounds,
            "threads_choice": threads.to_dict() if threads is not None else None,
            "memory_budget_gb": round(budget / 1e9, 2),
            "measured_whole": sum(p.method == WHOLE for p in fit_plans),
            "measured_extended": sum(p.method == EXTENDED for p in fit_plans),
            "not_measurable": [str(a) for a, p in plans.items() if p.method == PREDICTED],
            "parent_latency_source": plans[parent_arch].method,
            "remeasured": [str(a) for a in remeasured],
            "parent_check": _parent_check(predictor, parent_arch, fit_on) if checkable else None,
            "extension_check": _extension_check(check_arch, measurer, values),
        }
        checks["noise"] = _noise_verdict(predictor, checks, settings) if checkable else None
        checks["predictor_warning"] = _predictor_warning(predictor) if checkable and not checks["noise"] else None
        return cls(measured, predicted, parent_ms, predictor, settings, methods, checks)

    def latency_ms(self, k: int) -> float:
        return self.measured[k] if k in self.measured else self.predicted[k]

    def source(self, k: int) -> str:
        return self.methods.get(k, PREDICTED)

    def report(self) -> dict[str, Any]:
        """The settings, the counts, the predictor's leave-one-out error on the measured points and the checks."""
        predictor = self.predictor
        checkable = predictor is not None and len(predictor.samples) > len(predictor.features)
        held_out = predictor.held_out_errors() if checkable else None
        return {
            **self.settings.fingerprint(),
            "measured": len(self.measured),
            "predicted": len(self.predicted),
            "parent_latency_ms": self.parent_latency_ms,
            "predictor_features": list(predictor.features) if predictor else None,
            "held_out_mean_relative_error": held_out.mean if held_out else None,
            "held_out_max_relative_error": held_out.worst if held_out else None,
            **self.checks,
        }


def _remeasure_outliers(
    plans: list[MeasurementPlan],
    measurer: RoundsMeasurer,
    settings: LatencySettings,
    costs: dict[Architecture, StaticCosts],
) -> list[Architecture]:
    """Measure again, in one more pass of interleaved rounds, every sample whose leave-one-out error is an
    outlier (every sample, while the mean error is over ``settings.max_held_out_error``), until none is left
    that has passes to spare. Deterministic given the stored timings, so a resumed search reaches the same
    values without measuring again."""
    remeasured: list[Architecture] = []
    while True:
        samples = [_sample(p.arch, costs[p.arch], p.latency_ms(lambda u: measurer.timing(u).ms)) for p in plans]
        errors = LatencyPredictor(settings).fit(samples).held_out_errors().errors
        limit = max(OUTLIER_RATIO * statistics.median(errors), OUTLIER_FLOOR)
        if statistics.mean(errors) > settings.max_held_out_error:
            limit = 0.0
        spare = [min(map(measurer.passes, p.units)) < measurer.max_passes for p in plans]
        again = [p for p, e, has_spare in zip(plans, errors, spare) if e > limit and has_spare]
        if not again:
            return remeasured
        logger.info("Re-measuring latency outliers: %s", ", ".join(str(p.arch) for p in again))
        lagging = [u for p in again for u in p.units if measurer.passes(u) == min(map(measurer.passes, p.units))]
        measurer.add_pass(lagging)
        remeasured += [p.arch for p in again if p.arch not in remeasured]


def _parent_check(
    predictor: LatencyPredictor, parent: Architecture, fit_on: list[LatencySample]
) -> dict[str, Any] | None:
    """The parent's measured latency against what the other measured samples imply for its FLOPs and depth."""
    others = [s for s in fit_on if s.arch != parent]
    mine = [s for s in fit_on if s.arch == parent]
    if not mine or len(others) < len(predictor.features):
        return None
    implied = LatencyPredictor(predictor.settings, predictor.features).fit(others)
    s = mine[0]
    expected = implied.predict(s.arch, s.params, s.effective_params, s.flops)
    error = abs(expected - s.latency_ms) / s.latency_ms
    return {"measured_ms": s.latency_ms, "implied_ms": expected, "relative_error": error}


def _extension_check(
    arch: Architecture | None, measurer: RoundsMeasurer, values: dict[Architecture, float]
) -> dict[str, Any] | None:
    """Depth extension against the whole-model measurement of ``arch``, where one was made."""
    if arch is None:
        return None
    one, two = (measurer.timing(a).ms for a in shallow_pair(arch))
    extended, whole = extend_in_depth(one, two, arch.depth), values[arch]
    error = abs(extended - whole) / whole
    return {"arch": str(arch), "whole_ms": whole, "extended_ms": extended, "relative_error": error}


def _noise_verdict(predictor: LatencyPredictor, checks: dict[str, Any], settings: LatencySettings) -> str | None:
    """``None`` when the measurements are consistent; else the problem, raised or warned per ``on_noise``."""
    limit = settings.max_held_out_error
    held_out = predictor.held_out_errors()
    problems = []
    if held_out.mean > limit:
        problems.append(
            f"the latency predictor's held-out error is {held_out.mean:.1%} on average (worst {held_out.worst:.1%}; "
            f"limit {limit:.0%}), {len(checks['remeasured'])} sample(s) re-measured"
        )
    parent = checks["parent_check"]
    if parent is not None and parent["relative_error"] > limit:
        problems.append(
            f"the parent measured {parent['measured_ms']:.1f} ms where the other measured architectures imply "
            f"{parent['implied_ms']:.1f} ms"
        )
    extension = checks["extension_check"]
    if extension is not None and extension["relative_error"] > limit:
        problems.append(
            f"{extension['arch']} measured {extension['whole_ms']:.1f} ms whole but {extension['extended_ms']:.1f} ms "
            "extended from depths 1 and 2"
        )
    if not problems:
        return None
    message = (
        "Latency measurements look like noise: " + "; ".join(problems) + ". The machine was probably busy while "
        "measuring, so latencies on this front are approximate: measure on an otherwise idle machine or raise "
        "LatencySettings.rounds."
    )
    if settings.on_noise == "raise":
        raise LatencyNoiseError(f"{message} on_noise='warn' (the default) accepts the front with this warning.")
    warnings.warn(message, UserWarning, stacklevel=4)
    logger.warning(message)
    return message


def _predictor_warning(predictor: LatencyPredictor) -> str | None:
    """A warning when the predictor's held-out error is over :data:`PREDICTOR_WARNING` (``None`` under it)."""
    held_out = predictor.held_out_errors()
    if held_out.mean <= PREDICTOR_WARNING:
        return None
    message = (
        f"The latency predictor's held-out error is {held_out.mean:.1%} on average (worst {held_out.worst:.1%}), "
        f"over {PREDICTOR_WARNING:.0%}: predicted latencies (~) may be off by about that much. Measure more "
        "candidates (latency_samples, --latency-samples) or on an otherwise idle machine."
    )
    warnings.warn(message, UserWarning, stacklevel=4)
    logger.warning(message)
    return message


def _sample(arch: Architecture, cost: StaticCosts, latency_ms: float) -> LatencySample:
    return LatencySample(arch, cost.params, cost.effective_params, cost.flops, latency_ms)
