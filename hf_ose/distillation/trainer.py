"""A :class:`transformers.Trainer` that distils a student from its parent on unlabelled text."""

from __future__ import annotations

from typing import Any, Sequence

import torch
from datasets import Dataset
from torch import nn
from transformers import DataCollatorWithPadding, PreTrainedModel, PreTrainedTokenizerBase, Trainer

from ..data import load_texts
from .losses import DistillationLoss

__all__ = ["DistillationTrainer", "distillation_dataset"]


def distillation_dataset(
    tokenizer: PreTrainedTokenizerBase, texts: Sequence[str] | Any, max_length: int = 128
) -> tuple[Dataset, DataCollatorWithPadding]:
    """Tokenized ``texts`` (a list, a ``datasets.Dataset`` or a file, see :func:`load_texts`), unpadded, and the
    collator that pads each batch: pass them as ``train_dataset`` / ``eval_dataset`` and ``data_collator``."""
    encoded = tokenizer(load_texts(texts), truncation=True, max_length=max_length)
    return Dataset.from_dict(dict(encoded)), DataCollatorWithPadding(tokenizer)


class DistillationTrainer(Trainer):
    """Distil ``model`` (the student) from ``teacher`` with a width-free :class:`DistillationLoss`.

    Everything else is a stock :class:`~transformers.Trainer` (arguments, accelerate / ``torchrun`` launch,
    mixed precision, checkpoints, ``save_model``); the only plug is :meth:`compute_loss`, which runs the teacher
    under ``no_grad`` in eval mode, the student with ``output_hidden_states=True``, and returns
    ``loss(student_outputs, teacher_outputs, attention_mask)``. The teacher is not trained, not wrapped and not
    saved; it is moved to the student's device on first use. :meth:`prediction_step` returns the same loss, so
    ``evaluate()`` reports the held-out distillation loss as ``eval_loss``. ``loss`` defaults to
    ``DistillationLoss()``. The loss is a per-batch mean, divided by the gradient-accumulation steps as usual.
    """

    loss_is_scaled_for_ga = False

    def __init__(self, *args: Any, teacher: PreTrainedModel, loss: DistillationLoss | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.teacher = teacher
        self.distillation_loss = loss or DistillationLoss()

    def compute_loss(
        self,
        model: nn.Module,
        inputs: dict[str, torch.Tensor | Any],
        return_outputs: bool = False,
        num_items_in_batch: torch.Tensor | int | None = None,
    ) -> torch.Tensor | tuple[torch.Tensor, Any]:
        device = next(model.parameters()).device
        if next(self.teacher.parameters()).device != device:
            self.teacher.to(device)
        with torch.no_grad():
            teacher_outputs = self.teacher.eval()(**inputs, output_hidden_states=True)
        outputs = model(**inputs, output_hidden_states=True)
        loss = self.distillation_loss(outputs, teacher_outputs, inputs.get("attention_mask"))
        return (loss, outputs) if return_outputs else loss

    def prediction_step(
        self,
        model: nn.Module,
        inputs: dict[str, torch.Tensor | Any],
        prediction_loss_only: bool,
        ignore_keys: list[str] | None = None,
    ) -> tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor | None]:
        inputs = self._prepare_inputs(inputs)
        with torch.no_grad(), self.compute_loss_context_manager():
            loss = self.compute_loss(model, inputs)
        return loss.detach(), None, None
