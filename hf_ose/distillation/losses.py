"""Width-free distillation losses between a parent and a narrower and/or shallower student.

No term needs a learned projection: each compares quantities whose shape does not depend on the hidden size.

* :func:`embedding_similarity_loss`: sentence level. Mean-pool the last hidden state over real tokens, build the
  batch x batch cosine-similarity matrix for each model, take the mean squared difference. Zero when the
  student embeds the batch with the same geometry as the parent (up to a rotation and a scale).
* :func:`relation_loss`: token level, after MiniLMv2. Split each model's hidden states into the same number R
  of relation heads (contiguous chunks of the hidden dimension; the chunk width may differ between models),
  form the token x token relation softmax(X_r X_r^T / sqrt(d_r)) per head, take KL(parent || student)
  per query token, averaged over heads and real query tokens; padded keys are masked out.
* :func:`logits_kl_loss`: output level, for models with an LM or classification head of the same output size:
  ``T^2 * KL(softmax(parent/T) || softmax(student/T))``, Bort's KL term (Bort's loss is
  ``0.1 * MLM cross-entropy + 0.5 * T^2 * KL`` with ``T = 2``; the cross-entropy needs labels and is the caller's).

:class:`DistillationLoss` weighs the three on model outputs computed with ``output_hidden_states=True``.

Task distillation (Agora, design notes): a labelled loss mixed with a teacher's soft targets, one per task kind:
:func:`task_distillation_loss` (classes: cross-entropy and KL), :func:`token_distillation_loss` (tags: the same
over the tagged positions) and :func:`score_distillation_loss` (regression: MSE to the label and to the teacher).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["DistillationLoss", "embedding_similarity_loss", "logits_kl_loss", "mean_pool", "relation_loss",
           "score_distillation_loss", "task_distillation_loss", "token_distillation_loss"]

#: The label of a position that carries no tag, as in transformers (``CrossEntropyLoss``'s ignore index).
IGNORED_LABEL = -100


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
    """Mean of ``hidden`` (batch, tokens, width) over the tokens the mask marks as real."""
    if attention_mask is None:
        return hidden.mean(dim=1)
    mask = attention_mask.to(hidden.dtype).unsqueeze(-1)
    return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)


def _cosine_matrix(x: torch.Tensor) -> torch.Tensor:
    x = F.normalize(x, dim=-1)
    return x @ x.transpose(-1, -2)


def embedding_similarity_loss(
    student_hidden: torch.Tensor, parent_hidden: torch.Tensor, attention_mask: torch.Tensor | None = None
) -> torch.Tensor:
    """MSE between the batch x batch cosine-similarity matrices of the mean-pooled sentence embeddings."""
    student = _cosine_matrix(mean_pool(student_hidden, attention_mask))
    parent = _cosine_matrix(mean_pool(parent_hidden, attention_mask))
    return F.mse_loss(student, parent)


def _relations(hidden: torch.Tensor, heads: int, key_mask: torch.Tensor | None) -> torch.Tensor:
    """Log-softmax token relations per relation head: (batch, heads, tokens, tokens)."""
    width = hidden.shape[-1]
    if width < heads:
        raise ValueError(f"relation_heads={heads} exceeds the hidden width {width}; use at most {width}.")
    chunks = torch.tensor_split(hidden, heads, dim=-1)
    scores = torch.stack([c @ c.transpose(-1, -2) / c.shape[-1] ** 0.5 for c in chunks], dim=1)
    if key_mask is not None:
        scores = scores.masked_fill(~key_mask[:, None, None, :], torch.finfo(scores.dtype).min)
    return scores.log_softmax(dim=-1)


def relation_loss(
    student_hidden: torch.Tensor,
    parent_hidden: torch.Tensor,
    attention_mask: torch.Tensor | None = None,
    relation_heads: int = 12,
) -> torch.Tensor:
    """MiniLMv2-style KL(parent || student) of hidden-state self-relations, split into ``relation_heads``.

    Widths may differ: both models are split into the same number of heads, and each relation matrix is
    tokens x tokens. Widths that ``relation_heads`` does not divide are split into nearly equal chunks.
    """
    mask = attention_mask.bool() if attention_mask is not None else None
    log_s = _relations(student_hidden, relation_heads, mask)
    log_p = _relations(parent_hidden, relation_heads, mask)
    kl = (log_p.exp() * (log_p - log_s)).sum(dim=-1)  # (batch, heads, query tokens)
    if mask is None:
        return kl.mean()
    weights = mask[:, None, :].to(kl.dtype).expand_as(kl)
    return (kl * weights).sum() / weights.sum().clamp(min=1.0)


def logits_kl_loss(
    student_logits: torch.Tensor,
    parent_logits: torch.Tensor,
    attention_mask: torch.Tensor | None = None,
    temperature: float = 2.0,
) -> torch.Tensor:
    """``T^2 * KL(softmax(parent/T) || softmax(student/T))``, averaged over examples (or real tokens).

    Logits are (batch, classes) or (batch, tokens, vocabulary); for the latter ``attention_mask`` selects
    the tokens that count.
    """
    if student_logits.shape[-1] != parent_logits.shape[-1]:
        raise ValueError(
            f"Logits differ in size ({student_logits.shape[-1]} vs {parent_logits.shape[-1]}): the logits term "
            "needs heads of the same output size; set logits_weight=0 for models without one."
        )
    log_s = F.log_softmax(student_logits / temperature, dim=-1)
    log_p = F.log_softmax(parent_logits / temperature, dim=-1)
    kl = (log_p.exp() * (log_p - log_s)).sum(dim=-1) * temperature**2
    if kl.dim() == 2 and attention_mask is not None:
        weights = attention_mask.to(kl.dtype)
        return (kl * weights).sum() / weights.sum().clamp(min=1.0)
    return kl.mean()


def task_distillation_loss(logits: torch.Tensor, labels: torch.Tensor, teacher_logits: torch.Tensor,
                           alpha: float = 0.5, temperature: float = 2.0) -> torch.Tensor:
    """``alpha * CE(logits, labels) + (1 - alpha) * T^2 * KL(softmax(teacher/T) || softmax(student/T))``,
    averaged over the batch: Bort's task loss. ``teacher_logits`` may be log-probabilities: softmax is
    shift-invariant, so they give the same soft targets as the logits they came from."""
    cross_entropy = F.cross_entropy(logits, labels)
    kl = logits_kl_loss(logits, teacher_logits.to(logits.dtype), temperature=temperature)
    return alpha * cross_entropy + (1.0 - alpha) * kl


def token_distillation_loss(logits: torch.Tensor, labels: torch.Tensor, teacher_logits: torch.Tensor,
                            alpha: float = 0.5, temperature: float = 2.0) -> torch.Tensor:
    """:func:`task_distillation_loss` per token: ``logits`` and ``teacher_logits`` are (batch, tokens, tags),
    ``labels`` (batch, tokens) with :data:`IGNORED_LABEL` where no tag counts; both terms average over the tagged
    positions only."""
    tagged = labels != IGNORED_LABEL
    if not bool(tagged.any()):
        return logits.sum() * 0.0  # a batch without tags: no signal, but a graph for backward
    return task_distillation_loss(logits[tagged], labels[tagged], teacher_logits[tagged], alpha, temperature)


def score_distillation_loss(scores: torch.Tensor, labels: torch.Tensor, teacher_scores: torch.Tensor,
                            alpha: float = 0.5) -> torch.Tensor:
    """``alpha * MSE(scores, labels) + (1 - alpha) * MSE(scores, teacher_scores)``: regression's task loss
    (``scores`` of shape (batch,) or (batch, 1))."""
    scores = scores.reshape(-1)
    return (alpha * F.mse_loss(scores, labels.reshape(-1).to(scores.dtype))
            + (1.0 - alpha) * F.mse_loss(scores, teacher_scores.reshape(-1).to(scores.dtype)))


def _last_hidden(outputs: Any, layer: int) -> torch.Tensor:
    hidden_states = getattr(outputs, "hidden_states", None)
    if hidden_states is not None:
        return hidden_states[layer]
    if layer == -1 and getattr(outputs, "last_hidden_state", None) is not None:
        return outputs.last_hidden_state
    raise ValueError("Model outputs carry no hidden states: call the model with output_hidden_states=True.")


class DistillationLoss(nn.Module):
    """Weighted sum of the width-free terms, on model outputs (``output_hidden_states=True``).

    ``embedding_weight * embedding_similarity_loss + relation_weight * relation_loss
    + logits_weight * logits_kl_loss``; the logits term is used only when both outputs carry ``logits``.
    ``layer`` picks the hidden state compared (default: the last; for a shallower student, pass the
    student's and parent's indices as a pair).
    """

    def __init__(
        self,
        embedding_weight: float = 1.0,
        relation_weight: float = 1.0,
        logits_weight: float = 0.5,
        relation_heads: int = 12,
        temperature: float = 2.0,
        layer: int | tuple[int, int] = -1,
    ) -> None:
        super().__init__()
        self.embedding_weight = embedding_weight
        self.relation_weight = relation_weight
        self.logits_weight = logits_weight
        self.relation_heads = relation_heads
        self.temperature = temperature
        self.layers = layer if isinstance(layer, tuple) else (layer, layer)

    def fingerprint(self) -> dict[str, Any]:
        """The class and every public setting (weights, heads, temperature, layers): caches of values computed
        with this loss key on it."""
        settings = {k: v for k, v in vars(self).items() if not k.startswith("_") and k != "training"}
        return {"class": type(self).__name__, **settings}

    def terms(
        self, student_outputs: Any, parent_outputs: Any, attention_mask: torch.Tensor | None
    ) -> dict[str, torch.Tensor]:
        """The unweighted terms by name (``embedding``, ``relation`` and, where both have logits, ``logits``)."""
        student = _last_hidden(student_outputs, self.layers[0])
        parent = _last_hidden(parent_outputs, self.layers[1])
        terms = {
            "embedding": embedding_similarity_loss(student, parent, attention_mask),
            "relation": relation_loss(student, parent, attention_mask, self.relation_heads),
        }
        student_logits = getattr(student_outputs, "logits", None)
        parent_logits = getattr(parent_outputs, "logits", None)
        if student_logits is not None and parent_logits is not None:
            terms["logits"] = logits_kl_loss(student_logits, parent_logits, attention_mask, self.temperature)
        return terms

    def forward(
        self, student_outputs: Any, parent_outputs: Any, attention_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        weights = {"embedding": self.embedding_weight, "relation": self.relation_weight, "logits": self.logits_weight}
        terms = self.terms(student_outputs, parent_outputs, attention_mask)
        return sum(weights[name] * value for name, value in terms.items())
