"""Distillation from a parent into a narrower and/or shallower student."""

from .losses import DistillationLoss, embedding_similarity_loss, logits_kl_loss, mean_pool, relation_loss
from .trainer import DistillationTrainer, distillation_dataset

__all__ = [
    "DistillationLoss", "DistillationTrainer", "distillation_dataset", "embedding_similarity_loss", "logits_kl_loss",
    "mean_pool", "relation_loss",
]
