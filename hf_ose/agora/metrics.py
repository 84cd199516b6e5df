"""Metrics for ``Trainer``'s ``compute_metrics``."""

from __future__ import annotations

from typing import Any

import numpy as np


def accuracy_metric(prediction: Any) -> dict[str, float]:
    """``compute_metrics`` for ``Trainer``: the share of rows whose arg-max class is the label."""
    logits = prediction.predictions[0] if isinstance(prediction.predictions, tuple) else prediction.predictions
    return {"accuracy": float((np.asarray(logits).argmax(-1) == np.asarray(prediction.label_ids)).mean())}
