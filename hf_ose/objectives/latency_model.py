"""Latency for every candidate of a search: measured on a spread sample (and the parent), predicted for the rest."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

from tqdm.auto import tqdm

from ..architecture import Architecture
from .counting import StaticCost
from .latency import LatencySettings
from .latency_predictor import LatencyPredictor, LatencySample, choose_sample


@dataclass
class LatencyModel:
    """Each candidate's latency and whether it was measured or predicted, plus the predictor's record."""

    measured: dict[int, float]
    predicted: dict[int, float]
    parent_latency_ms: float
    predictor: LatencyPredictor | None
    settings: LatencySettings

    @classmethod
    def build(
        cls,
        archs: Sequence[Architecture],
        costs: Sequence[StaticCost],
        parent_arch: Architecture,
        parent_cost: StaticCost,
        settings: LatencySettings,
        *,
        measure: Callable[[Architecture], float],
        samples: int,
        disable_progress: bool | None = None,
    ) -> "LatencyModel":
        """Measure ``samples`` candidates spread over the FLOPs range and the parent, fit, predict the rest."""
        chosen = choose_sample([c.flops for c in costs], samples)
        measured = {k: measure(archs[k]) for k in tqdm(chosen, desc="latency (measured)", disable=disable_progress)}
        parent_ms = measure(parent_arch)
        fit_on = [_sample(archs[k], costs[k], ms) for k, ms in measured.items()]
        if parent_arch not in archs:
            fit_on.append(_sample(parent_arch, parent_cost, parent_ms))
        if len(measured) == len(archs):
            return cls(measured, {}, parent_ms, _fit_if_possible(settings, fit_on), settings)
        predictor = LatencyPredictor(settings).fit(fit_on)
        predicted = {
            k: predictor.predict(arch, cost.params, cost.effective_params, cost.flops)
            for k, (arch, cost) in enumerate(zip(archs, costs)) if k not in measured
        }
        return cls(measured, predicted, parent_ms, predictor, settings)

    def latency_ms(self, k: int) -> float:
        return self.measured[k] if k in self.measured else self.predicted[k]

    def source(self, k: int) -> str:
        return "measured" if k in self.measured else "predicted"

    def report(self) -> dict[str, Any]:
        """The settings, the counts, and the predictor's leave-one-out error on the measured points."""
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
        }


def _fit_if_possible(settings: LatencySettings, samples: list[LatencySample]) -> LatencyPredictor | None:
    """A predictor when there are enough samples to fit one (only its held-out error is reported then)."""
    predictor = LatencyPredictor(settings)
    return predictor.fit(samples) if len(samples) > len(predictor.features) else None


def _sample(arch: Architecture, cost: StaticCost, latency_ms: float) -> LatencySample:
    return LatencySample(arch, cost.params, cost.effective_params, cost.flops, latency_ms)
