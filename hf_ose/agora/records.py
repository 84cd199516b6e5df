"""What the Agora loop records in its output folder: the report, and the finished setting runs that resume reuses.

``agora_report.json`` holds one :class:`AgoraRound` per round and an :class:`AgoraReport` over the whole run,
saved after every round. Each setting run's folder (``output_dir/agora/round-R/setting-I``) gets ``run.json``
(its key, score, development predictions and Trainer output) and ``run_weights.pt`` (its state dict) once the run
has finished, so that ``AgoraTrainer.train(resume_from_checkpoint=True)`` reuses it. The key digests the setting
and the encoded training rows, so a run is reused only for the same setting on the same data; a run killed midway
has no ``run.json`` and resumes from its last Trainer checkpoint instead.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from datasets import Dataset
from torch import nn
from transformers.trainer_utils import TrainOutput

from ..io import atomic_write

__all__ = ["AgoraReport", "AgoraRound", "FinishedRun", "REPORT_FILE", "RUN_RECORD", "RUN_WEIGHTS", "load_run",
           "run_key", "save_run"]

#: The report's file name inside ``output_dir``.
REPORT_FILE = "agora_report.json"
#: A finished setting run's record and weights, inside its folder.
RUN_RECORD = "run.json"
RUN_WEIGHTS = "run_weights.pt"


#: How an old report said that its ``test_accuracy`` held another metric.
_OLD_METRIC_NOTE = re.compile(r"test_accuracy holds the test (\w+)")


def _finite(value: float | None) -> float | None:
    """``value``, or None when it is missing or not finite (JSON has no NaN)."""
    return None if value is None or not math.isfinite(value) else float(value)


@dataclass
class AgoraRound:
    """One round: every remaining setting fine-tuned and scored, the best model's development mistakes, the
    points sampled near them (``generated``) and those the labeller was confident enough about (``kept``),
    appended to the training set for the next round. ``train_size`` is the training set this round used;
    ``settings`` lists ``{"setting": dict, "score": float | None}`` best first; ``dropped`` the settings
    removed after the round; ``mistake_indices`` the development rows the best model got wrong; ``sources`` the
    generated and kept points per source (``{"pool": {"generated": 40, "kept": 38}}``; ``edits`` for token
    edits)."""

    round: int
    settings: list[dict[str, Any]]
    best_setting: dict[str, Any]
    train_size: int
    mistakes: int
    mistake_indices: list[int]
    generated: int = 0
    kept: int = 0
    sources: dict[str, dict[str, int]] = field(default_factory=dict)
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
    """The whole run: the task kind, how settings were ranked (``metric``, ``greater_is_better``), the rounds, the
    best model's setting, round and development score, and its test scores: the task kind's main metric under its
    own name (``test_metric_name``: accuracy, pearson, entity f1 or spearman; ``test_metric`` its value),
    ``test_metrics`` (what ``compute_metrics`` gives on the test set, with ``test_loss``) and, for classification
    only, ``test_accuracy``. Test scores are None without a test set. ``pool_labelled``: unlabelled pool texts labelled before the
    loop (``agora_pool_labelled``), of which ``pool_rows_kept`` reached the confidence floor and joined the
    training set. ``selection_rows``: the development rows (their numbers) held out from the sampler to choose the
    setting and the round, which ``dev_score`` is then on (``agora_selection_share``; empty: the whole development
    set did both)."""

    metric: str
    greater_is_better: bool
    task: str = "classification"
    rounds: list[AgoraRound] = field(default_factory=list)
    best_setting: dict[str, Any] | None = None
    best_round: int | None = None
    dev_score: float | None = None
    test_metric_name: str | None = None
    test_metric: float | None = None
    test_accuracy: float | None = None
    test_metrics: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    pool_labelled: int = 0
    pool_rows_kept: int = 0
    selection_rows: list[int] = field(default_factory=list)
    hf_ose_version: str = ""

    def __post_init__(self) -> None:
        if not self.hf_ose_version:
            from .. import __version__

            self.hf_ose_version = __version__

    def points_by_source(self) -> dict[str, dict[str, int]]:
        """Points generated and kept over every round, per source; ``pool-labelled`` for the pool rows labelled
        before the loop (each one a teacher label)."""
        totals: dict[str, dict[str, int]] = {}
        if self.pool_labelled:
            totals["pool-labelled"] = {"generated": self.pool_labelled, "kept": self.pool_rows_kept}
        for entry in self.rounds:
            for source, counts in entry.sources.items():
                total = totals.setdefault(source, {"generated": 0, "kept": 0})
                for key in total:
                    total[key] += int(counts.get(key, 0))
        return totals

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["points_by_source"] = self.points_by_source()
        data["dev_score"] = _finite(self.dev_score)
        data["test_accuracy"] = _finite(self.test_accuracy)
        data["test_metric"] = _finite(self.test_metric)
        data["test_metrics"] = {k: _finite(v) for k, v in self.test_metrics.items()}
        for entry in data["rounds"]:
            for scored in entry["settings"]:
                scored["score"] = _finite(scored["score"])
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AgoraReport:
        """A report from its dict; one written before ``test_metric`` existed gets it from ``test_accuracy`` (or,
        where a note says ``test_accuracy`` held another metric, as earlier regression, token-classification
        and embedding reports did, under that metric's name, ``test_accuracy`` then None)."""
        values = {f.name: data[f.name] for f in fields(cls) if f.name in data}
        values["rounds"] = [AgoraRound.from_dict(r) for r in data.get("rounds", [])]
        if "test_metric_name" not in data and data.get("test_accuracy") is not None:
            held = next((match.group(1).lower() for note in data.get("notes", [])
                         if (match := _OLD_METRIC_NOTE.search(note))), "accuracy")
            values["test_metric_name"], values["test_metric"] = held, data["test_accuracy"]
            if held != "accuracy":
                values["test_accuracy"] = None
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


@dataclass(frozen=True)
class FinishedRun:
    """What a finished run recorded: its score, development predictions (per row: a class, a score, or the tags
    on its tagged positions) and Trainer output."""

    score: float
    predicted: Any
    output: TrainOutput


def run_key(setting: dict[str, Any], train_set: Dataset, *evaluated: Dataset | None) -> str:
    """A digest of the setting, the training rows (token ids, labels, teacher targets) and the rows the run is
    scored on and predicts (``None`` ones skipped)."""
    digest = hashlib.sha256(json.dumps(setting, sort_keys=True, default=str).encode())
    for rows in (train_set, *evaluated):
        if rows is not None:
            digest.update(json.dumps(rows.to_dict(), sort_keys=True, default=float).encode())
    return digest.hexdigest()[:16]


def save_run(folder: Path, key: str, run: FinishedRun, model: nn.Module) -> None:
    """Record a finished run in ``folder`` (weights first, the record last: a record means a whole run)."""
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), folder / RUN_WEIGHTS)
    predicted = [np.asarray(row).tolist() for row in run.predicted]
    record = {"key": key, "score": run.score, "predicted": predicted,
              "global_step": run.output.global_step, "training_loss": run.output.training_loss,
              "metrics": run.output.metrics}
    atomic_write(folder / RUN_RECORD, json.dumps(record, default=float))


def load_run(folder: Path, key: str, model: nn.Module) -> FinishedRun | None:
    """The run recorded in ``folder`` for ``key``, its weights loaded into ``model``; ``None`` if there is none."""
    try:
        record = json.loads((folder / RUN_RECORD).read_text())
    except (OSError, json.JSONDecodeError):
        return None
    if record.get("key") != key or not (folder / RUN_WEIGHTS).is_file():
        return None
    model.load_state_dict(torch.load(folder / RUN_WEIGHTS, map_location="cpu", weights_only=True))
    output = TrainOutput(record["global_step"], record["training_loss"], record["metrics"])
    predicted = record["predicted"]
    rows = [np.asarray(row, dtype=np.int64) for row in predicted] if predicted and isinstance(predicted[0], list) \
        else np.asarray(predicted)
    return FinishedRun(float(record["score"]), rows, output)
