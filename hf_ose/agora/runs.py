"""One fine-tuning inside the Agora loop: a stock Trainer, with Bort's task distillation loss when asked."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn
from transformers import Trainer

from .interfaces import AgoraError
from .loss import task_distillation_loss
from .rows import TEACHER_COLUMN

__all__ = ["RunTrainer", "predicted_labels"]


class RunTrainer(Trainer):
    """A :class:`~transformers.Trainer` for one setting of one round. With ``distill=(alpha, temperature)``,
    training rows carrying the labeller's log-probabilities (column ``teacher_logits``) are trained on
    :func:`task_distillation_loss`; rows without them (the development set) use the model's own loss."""

    def __init__(self, *args: Any, distill: tuple[float, float] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.distill = distill
        if distill is not None:
            self.loss_is_scaled_for_ga = False  # our loss is a per-batch mean

    def _set_signature_columns_if_needed(self) -> None:
        super()._set_signature_columns_if_needed()
        if TEACHER_COLUMN not in self._signature_columns:
            self._signature_columns.append(TEACHER_COLUMN)

    def compute_loss(self, model: nn.Module, inputs: dict[str, Any], return_outputs: bool = False,
                     num_items_in_batch: torch.Tensor | int | None = None) -> Any:
        teacher = inputs.pop(TEACHER_COLUMN, None)
        if teacher is None or self.distill is None:
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        labels = inputs.pop("labels")
        outputs = model(**inputs)
        loss = task_distillation_loss(outputs.logits, labels, teacher, *self.distill)
        return (loss, outputs) if return_outputs else loss


def predicted_labels(predictions: Any) -> np.ndarray:
    """Arg-max labels from ``Trainer.predict`` predictions: logits (or a tuple starting with them), or labels
    already (when ``preprocess_logits_for_metrics`` reduced them)."""
    if isinstance(predictions, (tuple, list)):
        predictions = predictions[0]
    predictions = np.asarray(predictions)
    if predictions.ndim == 1:
        return predictions.astype(np.int64)
    if predictions.ndim == 2:
        return predictions.argmax(axis=-1)
    raise AgoraError(f"Predictions of shape {predictions.shape} are neither class scores (rows, classes) nor "
                     "labels: Agora needs a sequence classifier (check preprocess_logits_for_metrics).")
