"""Bort's task distillation loss: the label cross-entropy and the labeller's soft targets, weighed."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..distillation.losses import logits_kl_loss

__all__ = ["task_distillation_loss"]


def task_distillation_loss(logits: torch.Tensor, labels: torch.Tensor, teacher_logits: torch.Tensor,
                           alpha: float = 0.5, temperature: float = 2.0) -> torch.Tensor:
    """``alpha * CE(logits, labels) + (1 - alpha) * T^2 * KL(softmax(teacher/T) || softmax(student/T))``,
    averaged over the batch: Bort's task loss (design notes, "Agora"). ``teacher_logits`` may be
    log-probabilities: softmax is shift-invariant, so they give the same soft targets as the logits they came from."""
    cross_entropy = F.cross_entropy(logits, labels)
    kl = logits_kl_loss(logits, teacher_logits.to(logits.dtype), temperature=temperature)
    return alpha * cross_entropy + (1.0 - alpha) * kl
