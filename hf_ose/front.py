"""The result of a search: Pareto-optimal variants with their objectives, and how they were obtained."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from transformers import AutoConfig, PretrainedConfig

from .architecture import Architecture
from .io import atomic_write, ensure_writable_folder


@dataclass(frozen=True)
class ReferencePoint:
    """The maximum point T of the W-coefficient: normally the parent."""

    params: int
    latency_ms: float


@dataclass(frozen=True)
class ParetoPoint:
    """One variant on the front. ``latency_source`` is "measured" or "predicted"; ``error_source`` says
    whether the error is a data-free prior estimate or a measured surrogate."""

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


@dataclass
class ParetoFront:
    """Pareto-optimal variants over (params, latency, error), sorted by size, plus the search's record.

    ``info`` holds how the front was made: epsilon, strategy, evaluations spent and their bound, candidate and
    dropped counts, objective settings, the latency predictor's held-out error and the AB^nC report.
    """

    points: list[ParetoPoint]
    reference: ReferencePoint
    info: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.points)

    def __iter__(self):
        return iter(self.points)

    @property
    def configs(self) -> list[PretrainedConfig]:
        return [point.config for point in self.points]

    def best(self, criterion: str = "w") -> ParetoPoint:
        """The point that maximises ``criterion``; ``"w"`` (Bort's W-coefficient) is the one offered."""
        if criterion != "w":
            raise ValueError(f"Unknown criterion {criterion!r}; use 'w' (Bort's W-coefficient).")
        if not self.points:
            raise ValueError("The front is empty: every evaluation failed (see info['failed']).")
        return max(self.points, key=lambda point: point.w(self.reference))

    # ---- persistence -----------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "reference": asdict(self.reference),
            "info": self.info,
            "points": [{**point.row(), "config": point.config.to_dict()} for point in self.points],
        }

    def to_json(self, path: str | Path) -> None:
        atomic_write(path, json.dumps(self.to_dict(), indent=2, default=str))

    @classmethod
    def from_json(cls, path: str | Path) -> "ParetoFront":
        data = json.loads(Path(path).read_text())
        points = []
        for record in data["points"]:
            config = dict(record["config"])
            config_class = type(AutoConfig.for_model(config["model_type"]))
            arch_fields = {k: record[k] for k in ("depth", "heads", "hidden", "intermediate", "kv_heads", "head_dim") if k in record}
            points.append(
                ParetoPoint(
                    config=config_class.from_dict(config),
                    architecture=Architecture.from_dict(arch_fields),
                    **{k: record[k] for k in ("params", "effective_params", "flops", "latency_ms", "error",
                                              "latency_source", "error_source")},
                )
            )
        return cls(points=points, reference=ReferencePoint(**data["reference"]), info=data["info"])

    def to_csv(self, path: str | Path) -> None:
        buffer = io.StringIO()
        rows = [{**point.row(), "w": point.w(self.reference)} for point in self.points]
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]) if rows else ["params"])
        writer.writeheader()
        writer.writerows(rows)
        atomic_write(path, buffer.getvalue())

    def to_pandas(self):
        """The front as a ``pandas.DataFrame`` (needs pandas: ``pip install hf-ose[pandas]``)."""
        try:
            import pandas as pd
        except ImportError as error:
            raise ImportError("to_pandas needs pandas: pip install 'hf-ose[pandas]'.") from error
        return pd.DataFrame([{**point.row(), "w": point.w(self.reference)} for point in self.points])

    def plot(self, path: str | Path) -> None:
        """A PNG of the front: latency against parameters, coloured by error, the W-best point marked."""
        from .plotting import plot_front

        plot_front(self, path)

    def save_pretrained(self, folder: str | Path) -> list[Path]:
        """One config folder per point (``point-00-D4-A8-H1024-I768``), each loadable with ``AutoConfig``."""
        root = ensure_writable_folder(folder)
        written = []
        for index, point in enumerate(self.points):
            a = point.architecture
            target = root / f"point-{index:02d}-D{a.depth}-A{a.heads}-H{a.hidden}-I{a.intermediate}"
            target.mkdir(exist_ok=True)
            atomic_write(target / "config.json", point.config.to_json_string(use_diff=False))
            written.append(target)
        return written
