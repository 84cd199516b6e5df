"""Embedding distillation: a student encoder trained on unlabelled text to give the parent's sentence vectors,
so its vectors stay comparable with the parent's (a student query can be searched against a parent's index).

The targets are the parent's pooled vectors before normalisation, computed once (:func:`teacher_targets`), so
several students or seeds share them. The loss is the mean squared error of the student's pooled vectors to
them (``"mse"``: direction and length, as in Reimers and Gurevych's multilingual distillation) or one minus
their cosine (``"cosine"``: direction only, all a normalised pipeline keeps). Agora does not apply here: with no
labels there are no mistakes to sample around, so this is plain distillation."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F

from ..torch_context import seeded
from .pipeline import EmbeddingError, Pooling, SentenceEncoder, accepted_inputs, check_texts

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

LOSSES = ("mse", "cosine")


@dataclass(frozen=True)
class EmbeddingDistillationSettings:
    """Optimisation settings: AdamW with linear warm-up and decay over ``epochs`` passes of the texts."""

    epochs: int = 1
    batch_size: int = 32
    learning_rate: float = 1e-4
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    loss: str = "mse"
    max_length: int = 128
    seed: int = 0
    #: Keep the word embeddings the parent's: a token the texts never hold gets no gradient, only weight decay.
    freeze_word_embeddings: bool = True

    def __post_init__(self) -> None:
        if self.loss not in LOSSES:
            raise EmbeddingError(f"loss={self.loss!r} is not an embedding distillation loss; use one of {list(LOSSES)}.")
        for name in ("epochs", "batch_size", "max_length"):
            if getattr(self, name) < 1:
                raise EmbeddingError(f"{name} must be at least 1, not {getattr(self, name)}.")
        if not self.learning_rate > 0:
            raise EmbeddingError(f"learning_rate must be positive, not {self.learning_rate}.")


@dataclass(frozen=True)
class EmbeddingDistillationLog:
    """What a run did: optimiser steps, the mean loss of each epoch, and the wall time."""

    steps: int
    epoch_losses: tuple[float, ...]
    seconds: float


def teacher_targets(parent: SentenceEncoder, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
    """The parent's pooled vectors of ``texts`` before normalisation: what :func:`distil_embeddings` fits."""
    raw = SentenceEncoder(parent.hidden_states, parent.tokenizer, dataclasses.replace(parent.pooling, normalize=False),
                          parent.input_names)
    return raw.encode(texts, batch_size)


def distil_embeddings(student: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, texts: Sequence[str],
                      targets: np.ndarray, pooling: Pooling,
                      settings: EmbeddingDistillationSettings = EmbeddingDistillationSettings()) -> EmbeddingDistillationLog:
    """Train ``student`` (a base encoder, in place) so that its ``pooling`` of each text matches ``targets``
    (from :func:`teacher_targets`); returns the run's log and leaves the student in eval mode. The student must
    keep the parent's hidden size: its vectors are compared with the parent's dimension by dimension."""
    texts = check_texts(texts)
    targets = torch.as_tensor(np.asarray(targets, dtype=np.float32))
    if targets.ndim != 2 or len(targets) != len(texts):
        raise EmbeddingError(f"targets has shape {tuple(targets.shape)} for {len(texts)} texts: pass "
                             "teacher_targets(parent, texts), one row per text.")
    width = student.config.hidden_size
    if targets.shape[1] != width:
        raise EmbeddingError(
            f"The student's embeddings have {width} dimensions, the parent's {targets.shape[1]}: a student whose "
            "vectors are compared with the parent's must keep the parent's hidden size. Choose a variant with "
            f"hidden size {targets.shape[1]} (fewer layers, heads or feed-forward neurons)."
        )
    names, raw = accepted_inputs(student), dataclasses.replace(pooling, normalize=False)
    length = min(settings.max_length, pooling.max_seq_length or settings.max_length)
    steps_per_epoch = -(-len(texts) // settings.batch_size)
    total = steps_per_epoch * settings.epochs
    embedding = student.get_input_embeddings().weight
    trainable = embedding.requires_grad
    embedding.requires_grad_(trainable and not settings.freeze_word_embeddings)
    losses, started = [], time.perf_counter()
    try:
        optimizer, schedule = _optimizer(student, settings, total)
        student.train()
        with seeded(settings.seed):
            generator = torch.Generator().manual_seed(settings.seed)
            for _ in range(settings.epochs):
                order, epoch_loss = torch.randperm(len(texts), generator=generator), 0.0
                for start in range(0, len(texts), settings.batch_size):
                    chosen = order[start:start + settings.batch_size]
                    batch = tokenizer([texts[k] for k in chosen], padding=True, truncation=True, max_length=length,
                                      return_tensors="pt")
                    hidden = student(**{name: batch[name] for name in names if name in batch})[0]
                    loss = _loss(raw(hidden, batch["attention_mask"]), targets[chosen], settings.loss)
                    loss.backward()
                    optimizer.step()
                    schedule.step()
                    optimizer.zero_grad(set_to_none=True)
                    epoch_loss += loss.item() * len(chosen)
                losses.append(epoch_loss / len(texts))
    finally:
        embedding.requires_grad_(trainable)
        student.eval()
    return EmbeddingDistillationLog(total, tuple(losses), time.perf_counter() - started)


def _loss(student: torch.Tensor, parent: torch.Tensor, kind: str) -> torch.Tensor:
    if kind == "mse":
        return F.mse_loss(student, parent)
    return (1 - F.cosine_similarity(student, parent, dim=-1)).mean()


def _optimizer(model: PreTrainedModel, settings: EmbeddingDistillationSettings,
               total_steps: int) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR]:
    """AdamW over the trainable parameters (no decay on biases and norms) with linear warm-up over ``warmup_ratio`` of the steps, then decay."""
    from transformers import get_linear_schedule_with_warmup

    decay, plain = [], []
    for name, parameter in model.named_parameters():
        if parameter.requires_grad:
            (plain if parameter.ndim < 2 or "norm" in name.lower() else decay).append(parameter)
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": settings.weight_decay},
                                   {"params": plain, "weight_decay": 0.0}], lr=settings.learning_rate)
    warmup = int(settings.warmup_ratio * total_steps)
    return optimizer, get_linear_schedule_with_warmup(optimizer, warmup, total_steps)
