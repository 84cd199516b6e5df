"""Distillation from a parent into a narrower and/or shallower student."""

from .losses import DistillationLoss, embedding_similarity_loss, logits_kl_loss, mean_pool, relation_loss

__all__ = ["DistillationLoss", "embedding_similarity_loss", "logits_kl_loss", "mean_pool", "relation_loss"]
