"""Finished setting runs kept on disk, so that ``AgoraTrainer.train(resume_from_checkpoint=True)`` reuses them.

Each run's folder (``output_dir/agora/round-R/setting-I``) gets ``run.json`` (its key, score, development
predictions and Trainer output) and ``run_weights.pt`` (its state dict) once the run has finished. The key
digests the setting and the encoded training rows, so a run is reused only for the same setting on the same
data; a run killed midway has no ``run.json`` and resumes from its last Trainer checkpoint instead.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from datasets import Dataset
from torch import nn
from transformers.trainer_utils import TrainOutput

from ..io import atomic_write

RUN_RECORD = "run.json"
RUN_WEIGHTS = "run_weights.pt"


@dataclass(frozen=True)
class FinishedRun:
    """What a finished run recorded: its score, development predictions and Trainer output."""

    score: float
    predicted: np.ndarray
    output: TrainOutput


def run_key(setting: dict[str, Any], train_set: Dataset) -> str:
    """A digest of the setting and the training rows (token ids, labels, teacher targets)."""
    digest = hashlib.sha256(json.dumps(setting, sort_keys=True, default=str).encode())
    digest.update(json.dumps(train_set.to_dict(), sort_keys=True, default=float).encode())
    return digest.hexdigest()[:16]


def save_run(folder: Path, key: str, run: FinishedRun, model: nn.Module) -> None:
    """Record a finished run in ``folder`` (weights first, the record last: a record means a whole run)."""
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), folder / RUN_WEIGHTS)
    record = {"key": key, "score": run.score, "predicted": run.predicted.tolist(),
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
    return FinishedRun(float(record["score"]), np.asarray(record["predicted"], dtype=np.int64), output)
