"""Latency predicted from cheap static features, fitted on a few measured architectures.

The model is linear in non-negative coefficients, so predicted latency never falls when a feature grows, and
it is fitted on relative error (each row weighted by 1 / measured latency), so small models count as much as
large ones. See :data:`FEATURES` for what each term stands for.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import nnls

from ..architecture import Architecture
from .settings import MEASUREMENT_FIELDS, LatencySettings


@dataclass(frozen=True)
class LatencySample:
    """One measured architecture: its static costs (as ``StaticCost`` holds them) and its latency."""

    arch: Architecture
    params: int
    effective_params: int
    flops: int
    latency_ms: float


_Feature = Callable[[Architecture, int, int, int, LatencySettings], float]

#: Candidate features by name. Each is a cost that time can only grow with.
FEATURES: dict[str, _Feature] = {
    # Fixed cost of a call: Python dispatch, embedding lookup, input handling.
    "constant": lambda a, p, e, f, s: 1.0,
    # Arithmetic: the bulk of the time at large widths.
    "flops": lambda a, p, e, f, s: float(f),
    # Per-block overhead: a dozen kernel launches and Python calls per layer, regardless of width.
    "depth": lambda a, p, e, f, s: float(a.depth),
    # Activation traffic: layer norms, residual adds, bias adds move depth * tokens * hidden values.
    "activations": lambda a, p, e, f, s: float(a.depth * s.batch_size * s.seq_len * a.hidden),
    # Attention scores: softmax and masking touch depth * heads * batch * seq^2 values.
    "attention_scores": lambda a, p, e, f, s: float(a.depth * a.heads * s.batch_size * s.seq_len**2),
    # Weight traffic: every non-embedding weight is read once per forward pass.
    "weights": lambda a, p, e, f, s: float(e),
}

#: Chosen by measurement (Bort grid over RoBERTa-large and a small-BERT grid, 2-core Xeon, batch 1, seq 128):
#: with these three, held-out mean relative error was 2-3% (worst 8-13%) from 8-16 measured points; NNLS gave
#: the other features zero or negligible weight (changes < 0.5% in mean error).
DEFAULT_FEATURES: tuple[str, ...] = ("constant", "flops", "depth")


def feature_vector(
    names: Sequence[str], arch: Architecture, params: int, effective_params: int, flops: int, settings: LatencySettings
) -> np.ndarray:
    """The values of the features ``names`` for one architecture under ``settings``."""
    return np.array([FEATURES[n](arch, params, effective_params, flops, settings) for n in names], dtype=float)


def _fit_relative(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Non-negative coefficients minimising the summed squared relative error of ``x @ w`` against ``y``."""
    scale = np.abs(x).max(axis=0)
    scale[scale == 0] = 1.0
    weights, _ = nnls(x / scale / y[:, None], np.ones(len(y)))
    return weights / scale


@dataclass(frozen=True)
class HeldOutErrors:
    """Leave-one-out relative errors |predicted - measured| / measured, one per measured sample."""

    errors: tuple[float, ...]

    @property
    def mean(self) -> float:
        return float(np.mean(self.errors))

    @property
    def worst(self) -> float:
        return float(np.max(self.errors))


class LatencyPredictor:
    """Predicts latency (ms) under fixed ``settings`` from static costs; fit it with :meth:`fit`."""

    def __init__(self, settings: LatencySettings, features: Sequence[str] = DEFAULT_FEATURES) -> None:
        unknown = [n for n in features if n not in FEATURES]
        if unknown:
            raise ValueError(f"Unknown latency feature(s) {unknown}; choose from {sorted(FEATURES)}.")
        self.settings = settings.resolved()
        self.features = tuple(features)
        self.coefficients: np.ndarray | None = None
        self.samples: tuple[LatencySample, ...] = ()

    def fit(self, samples: Sequence[LatencySample]) -> "LatencyPredictor":
        """Fit the coefficients to ``samples`` (at least as many as there are features, plus one for LOO)."""
        if len(samples) < len(self.features):
            raise ValueError(
                f"Fitting {len(self.features)} latency features needs at least {len(self.features)} measured "
                f"samples, got {len(samples)}; measure more candidates (see choose_sample)."
            )
        bad = [s for s in samples if not (math.isfinite(s.latency_ms) and s.latency_ms > 0)]
        if bad:
            raise ValueError(f"Measured latencies must be positive and finite; got {[s.latency_ms for s in bad]}.")
        self.samples = tuple(samples)
        self.coefficients = _fit_relative(self._matrix(self.samples), self._targets(self.samples))
        return self

    def predict(self, arch: Architecture, params: int, effective_params: int, flops: int) -> float:
        """Predicted latency in milliseconds."""
        if self.coefficients is None:
            raise RuntimeError("LatencyPredictor.predict called before fit(); fit it on measured samples first.")
        return float(self._row(arch, params, effective_params, flops) @ self.coefficients)

    def held_out_errors(self) -> HeldOutErrors:
        """Relative error on each measured sample when the predictor is refitted without it."""
        if len(self.samples) <= len(self.features):
            raise ValueError(
                f"Leave-one-out needs more samples ({len(self.samples)}) than features ({len(self.features)})."
            )
        x, y = self._matrix(self.samples), self._targets(self.samples)
        errors = []
        for k in range(len(y)):
            keep = np.arange(len(y)) != k
            predicted = x[k] @ _fit_relative(x[keep], y[keep])
            errors.append(float(abs(predicted - y[k]) / y[k]))
        return HeldOutErrors(tuple(errors))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready record of the fitted predictor (settings, features, coefficients, samples)."""
        if self.coefficients is None:
            raise RuntimeError("Cannot save an unfitted LatencyPredictor; call fit() first.")
        return {
            "settings": self.settings.fingerprint(),
            "features": list(self.features),
            "coefficients": self.coefficients.tolist(),
            "samples": [
                {
                    "arch": s.arch.as_dict(),
                    "params": s.params,
                    "effective_params": s.effective_params,
                    "flops": s.flops,
                    "latency_ms": s.latency_ms,
                }
                for s in self.samples
            ],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "LatencyPredictor":
        """Rebuild a predictor saved with :meth:`to_dict`."""
        settings = LatencySettings(**{k: data["settings"][k] for k in MEASUREMENT_FIELDS if k in data["settings"]})
        predictor = cls(settings, data["features"])
        predictor.coefficients = np.array(data["coefficients"], dtype=float)
        predictor.samples = tuple(
            LatencySample(**{**s, "arch": Architecture.from_dict(s["arch"])}) for s in data["samples"]
        )
        return predictor

    def _row(self, arch: Architecture, params: int, effective_params: int, flops: int) -> np.ndarray:
        return feature_vector(self.features, arch, params, effective_params, flops, self.settings)

    def _matrix(self, samples: Sequence[LatencySample]) -> np.ndarray:
        return np.stack([self._row(s.arch, s.params, s.effective_params, s.flops) for s in samples])

    @staticmethod
    def _targets(samples: Sequence[LatencySample]) -> np.ndarray:
        return np.array([s.latency_ms for s in samples], dtype=float)


def choose_sample(flops: Sequence[int], n: int) -> list[int]:
    """Indices of ``n`` candidates spread evenly in log FLOPs, smallest and largest included (sorted).

    Deterministic: each evenly spaced target takes the nearest candidate not yet taken, lowest index on ties.
    """
    if n < 2:
        raise ValueError(f"choose_sample needs n >= 2 (the smallest and largest candidate), got {n}.")
    if any(f <= 0 for f in flops):
        raise ValueError("choose_sample needs positive FLOP counts.")
    if n >= len(flops):
        return list(range(len(flops)))
    log_flops = np.log(np.asarray(flops, dtype=float))
    smallest, largest = int(np.argmin(log_flops)), int(np.argmax(log_flops))
    chosen = [smallest, largest]
    for target in np.linspace(log_flops[smallest], log_flops[largest], n)[1:-1]:
        distance = np.abs(log_flops - target)
        distance[chosen] = np.inf
        chosen.append(int(np.argmin(distance)))
    return sorted(chosen)
