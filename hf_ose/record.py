"""Typed results of a search: the points of a front, its reference point, and how it was made (settings and
record), each serialisable to and from JSON with the hf-ose version that wrote it stamped in."""

from __future__ import annotations

from dataclasses import MISSING, asdict, dataclass, field, fields
from typing import Any, Mapping

from transformers import PretrainedConfig

from .architecture import Architecture
from .exceptions import HfOseError
from .objectives.counting import ABnCReport


class RecordFormatError(HfOseError, ValueError):
    """A saved front or search record cannot be read: not written by hf-ose, damaged, or from a newer version."""


def hf_ose_version() -> str:
    """The installed hf-ose version, stamped into everything this module serialises."""
    from . import __version__

    return __version__


@dataclass(frozen=True)
class ReferencePoint:
    """The parent as the maximum point T of the W-coefficient: its size, its latency measured in the same run,
    and its error under the search's error objective (``None`` where unknown: a failed evaluation, or a front
    saved before hf-ose recorded it)."""

    params: int
    latency_ms: float
    error: float | None = None


@dataclass(frozen=True)
class ParetoPoint:
    """One variant on the front. ``latency_source`` says how its latency was obtained (``"measured"``,
    ``"measured (AB^nC, depths 1-2)"`` or ``"predicted"``); ``error_source`` whether the error is a data-free
    prior estimate or a measured surrogate."""

    config: PretrainedConfig
    architecture: Architecture
    params: int
    effective_params: int
    flops: int
    latency_ms: float
    error: float
    latency_source: str
    error_source: str

    def w(self, reference: ReferencePoint) -> float:
        """Bort's W-coefficient against the maximum point T: ((p_T - p)/p_T)((i_T - i)/i_T) / e."""
        size = (reference.params - self.params) / reference.params
        cost = (reference.latency_ms - self.latency_ms) / reference.latency_ms
        return size * cost / self.error if self.error > 0 else float("inf")

    def speedup(self, reference: ReferencePoint) -> float:
        """How many times faster than the parent (both latencies from the same run)."""
        return reference.latency_ms / self.latency_ms

    def row(self) -> dict[str, Any]:
        """A flat record for tables (no config)."""
        return {
            **self.architecture.as_dict(),
            "params": self.params,
            "effective_params": self.effective_params,
            "flops": self.flops,
            "latency_ms": self.latency_ms,
            "latency_source": self.latency_source,
            "error": self.error,
            "error_source": self.error_source,
        }


@dataclass(frozen=True)
class ParentSummary:
    """The parent's family, shape and exact cost."""

    model_type: str
    architecture: Architecture
    params: int
    effective_params: int
    flops: int

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "architecture": self.architecture.as_dict()}

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> "ParentSummary":
        known = _kwargs(cls, values, "parent")
        return cls(**{**known, "architecture": Architecture.from_dict(known["architecture"])})


@dataclass(frozen=True)
class SearchSettings:
    """What the search was asked to do: the approximation factor, the strategy, the grid, the error objective
    (its name and whether it is a data-free prior) and how many candidates were measured for latency
    (``None`` in records converted from files written before it was recorded)."""

    epsilon: float
    strategy: str
    grid: dict[str, list[int] | None]
    error_objective: str
    error_is_prior: bool
    latency_samples: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"hf_ose_version": hf_ose_version(), **asdict(self)}

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> "SearchSettings":
        return cls(**_kwargs(cls, values, "settings"))


@dataclass(frozen=True)
class Monotonicity:
    """The check of the search's assumption: evaluated pairs the architecture order compares, and those where
    the larger variant scored a higher error (``"larger > smaller"``)."""

    comparable_pairs: int
    violations: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class SearchRecord:
    """How a front was obtained.

    ``candidates`` valid candidates (``dropped``: invalid grid points by reason); ``evaluations`` error
    evaluations spent against the stated ``evaluation_bound``, ``cached_evaluations`` of them reused from the
    cache; ``failed`` candidates (architecture -> reason); ``latency``: the latency model's report (settings,
    measured and predicted counts, the predictor's held-out error; its keys belong to
    :meth:`hf_ose.latency.model.LatencyModel.report`); the AB^nC report; the monotonicity check;
    wall-clock ``seconds``; and ``hf_ose_version``, the version that wrote it (``None``: before it was stamped).
    """

    settings: SearchSettings
    parent: ParentSummary
    candidates: int
    dropped: dict[str, int]
    evaluations: int
    evaluation_bound: int
    cached_evaluations: int
    failed: dict[str, str]
    latency: dict[str, Any]
    abnc: ABnCReport
    monotonicity: Monotonicity
    seconds: float
    hf_ose_version: str | None = field(default_factory=hf_ose_version)

    def to_dict(self) -> dict[str, Any]:
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        return {
            **values,
            "hf_ose_version": hf_ose_version(),
            "settings": self.settings.to_dict(),
            "parent": self.parent.to_dict(),
            "abnc": self.abnc.to_dict(),
            "monotonicity": asdict(self.monotonicity),
        }

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> "SearchRecord":
        known = _kwargs(cls, values, "search record")
        return cls(**{
            **known,
            "settings": SearchSettings.from_dict(known["settings"]),
            "parent": ParentSummary.from_dict(known["parent"]),
            "abnc": ABnCReport(**_kwargs(ABnCReport, known["abnc"], "AB^nC report")),
            "monotonicity": Monotonicity(**_kwargs(Monotonicity, known["monotonicity"], "monotonicity check")),
        })

    @classmethod
    def from_legacy_info(cls, info: Mapping[str, Any]) -> "SearchRecord":
        """Convert the ``info`` dict of a front.json written by hf-ose 0.1.0 before records were typed."""
        settings = {name: info[name] for name in ("epsilon", "strategy", "grid", "error_objective", "error_is_prior")
                    if name in info}
        rest = {k: v for k, v in info.items() if k not in settings}
        return cls.from_dict({**rest, "settings": settings, "hf_ose_version": None})


def _kwargs(cls: type, values: Mapping[str, Any], what: str) -> dict[str, Any]:
    """``values`` as keyword arguments of ``cls``, refusing missing fields and fields this version does not know."""
    if not isinstance(values, Mapping):
        raise RecordFormatError(f"The {what} must be a JSON object, got {type(values).__name__}.")
    names = {f.name for f in fields(cls)}
    required = {f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING}
    missing = sorted(required - set(values))
    if missing:
        raise RecordFormatError(f"The {what} lacks {missing}: the file is incomplete or damaged.")
    unknown = sorted(set(values) - names - {"hf_ose_version"})
    if unknown:
        raise RecordFormatError(
            f"The {what} has fields this hf-ose ({hf_ose_version()}) does not know: {unknown}. It was probably "
            f"written by a newer hf-ose (it says {values.get('hf_ose_version')!r}): upgrade hf-ose to read it."
        )
    return {k: v for k, v in values.items() if k in names}
