"""The Agora loop's record: one :class:`AgoraRound` per round and an :class:`AgoraReport` over the whole run,
saved as ``agora_report.json`` in the output folder after every round."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from ..io import atomic_write

__all__ = ["AgoraReport", "AgoraRound", "REPORT_FILE"]

#: The report's file name inside ``output_dir``.
REPORT_FILE = "agora_report.json"


def _finite(value: float | None) -> float | None:
    """``value``, or None when it is missing or not finite (JSON has no NaN)."""
    return None if value is None or not math.isfinite(value) else float(value)


@dataclass
class AgoraRound:
    """One round: every remaining setting fine-tuned and scored, the best model's development mistakes, the
    points sampled near them (``generated``) and those the labeller was confident enough about (``kept``),
    appended to the training set for the next round. ``train_size`` is the training set this round used;
    ``settings`` lists ``{"setting": dict, "score": float | None}`` best first; ``dropped`` the settings
    removed after the round; ``mistake_indices`` the development rows the best model got wrong."""

    round: int
    settings: list[dict[str, Any]]
    best_setting: dict[str, Any]
    train_size: int
    mistakes: int
    mistake_indices: list[int]
    generated: int = 0
    kept: int = 0
    dropped: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def best_score(self) -> float | None:
        """The best setting's development score."""
        return self.settings[0]["score"]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AgoraRound:
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})


@dataclass
class AgoraReport:
    """The whole run: how settings were ranked (``metric``, ``greater_is_better``), the rounds, the best model's
    setting, round and development score, and ``test_accuracy`` (None without a test set)."""

    metric: str
    greater_is_better: bool
    rounds: list[AgoraRound] = field(default_factory=list)
    best_setting: dict[str, Any] | None = None
    best_round: int | None = None
    dev_score: float | None = None
    test_accuracy: float | None = None
    notes: list[str] = field(default_factory=list)
    hf_ose_version: str = ""

    def __post_init__(self) -> None:
        if not self.hf_ose_version:
            from .. import __version__

            self.hf_ose_version = __version__

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["dev_score"] = _finite(self.dev_score)
        data["test_accuracy"] = _finite(self.test_accuracy)
        for entry in data["rounds"]:
            for scored in entry["settings"]:
                scored["score"] = _finite(scored["score"])
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AgoraReport:
        values = {f.name: data[f.name] for f in fields(cls) if f.name in data}
        values["rounds"] = [AgoraRound.from_dict(r) for r in data.get("rounds", [])]
        return cls(**values)

    def save(self, folder: str | Path) -> Path:
        """Write ``agora_report.json`` in ``folder`` atomically; return its path."""
        path = Path(folder) / REPORT_FILE
        atomic_write(path, json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n")
        return path

    @classmethod
    def load(cls, path: str | Path) -> AgoraReport:
        """Read a report from ``agora_report.json`` (or the folder holding it)."""
        path = Path(path)
        return cls.from_dict(json.loads((path / REPORT_FILE if path.is_dir() else path).read_text()))
