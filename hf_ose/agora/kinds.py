"""What differs between the task kinds AgoraTrainer serves: which kind a model's head makes, the labels each
kind reads, the development predictions and mistakes, the labeller's labels for new points, and the training loss.

* classification: a ``*ForSequenceClassification`` with ``num_labels >= 2``; one integer label per row; a mistake
  is a wrong label; new points get the labeller's most probable class.
* regression: a sequence classifier with ``num_labels == 1`` (problem_type ``"regression"``); one float score per
  row; a mistake is a score off by more than a tolerance; new points get the labeller's score.
* token classification: a ``*ForTokenClassification``; a tag per token (``-100`` where none counts); a mistake is a
  sentence with any wrong tag; new points get the labeller's most probable tag on every tagged position.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
from torch import nn
from transformers.models.auto.modeling_auto import MODEL_FOR_TOKEN_CLASSIFICATION_MAPPING_NAMES

from ..distillation.losses import score_distillation_loss, task_distillation_loss, token_distillation_loss
from ..tasks import CLASSIFICATION, REGRESSION, TOKEN_CLASSIFICATION
from .interfaces import IGNORED, AgoraError, Labeller, Point, TokenizedPoint

__all__ = ["CLASSIFICATION", "REGRESSION", "TOKEN_CLASSIFICATION", "Labelled", "distillation_loss",
           "is_token_classifier", "label_points", "mistakes", "model_kind", "predicted_labels", "relabelled",
           "row_predictions"]


def _unwrapped(model: nn.Module) -> nn.Module:
    """The transformers model inside a PEFT wrapper (``model`` itself otherwise)."""
    get_base_model = getattr(model, "get_base_model", None)
    return get_base_model() if callable(get_base_model) else model


def is_token_classifier(model: nn.Module) -> bool:
    """Whether ``model`` is one of transformers' ``*ForTokenClassification`` models."""
    return type(model).__name__ in MODEL_FOR_TOKEN_CLASSIFICATION_MAPPING_NAMES.values()


def model_kind(model: nn.Module) -> str:
    """The task kind ``model``'s head makes: its class (``*ForTokenClassification``), else its config
    (``problem_type``, ``num_labels``). A multi-label classifier is refused: Agora's mistakes need one answer."""
    inner = _unwrapped(model)
    config = getattr(inner, "config", None)
    if config is None:
        raise AgoraError(f"AgoraTrainer needs a transformers model with a config, got {type(model).__name__}.")
    name = type(inner).__name__
    if is_token_classifier(inner) or name.endswith("ForTokenClassification"):
        return TOKEN_CLASSIFICATION
    if config.problem_type == "multi_label_classification":
        raise AgoraError(f"{name} is a multi-label classifier (problem_type 'multi_label_classification'): Agora "
                         "serves single-label classification, regression and token classification.")
    if config.problem_type == "regression" or config.num_labels == 1:
        return REGRESSION
    return CLASSIFICATION


# ---- development predictions and mistakes --------------------------------------------------------------------

def _first(predictions: Any) -> np.ndarray:
    return np.asarray(predictions[0] if isinstance(predictions, (tuple, list)) else predictions)


def predicted_labels(predictions: Any) -> np.ndarray:
    """Arg-max labels from ``Trainer.predict`` predictions: logits (or a tuple starting with them), or labels
    already (when ``preprocess_logits_for_metrics`` reduced them)."""
    predictions = _first(predictions)
    if predictions.ndim == 1:
        return predictions.astype(np.int64)
    if predictions.ndim == 2:
        return predictions.argmax(axis=-1)
    raise AgoraError(f"Predictions of shape {predictions.shape} are neither class scores (rows, classes) nor "
                     "labels: Agora needs a sequence classifier here (check preprocess_logits_for_metrics).")


def row_predictions(kind: str, predictions: Any, label_ids: Any) -> Any:
    """Per development row: the predicted class (int array), score (float array), or, for token
    classification, the list of predicted tags on the row's tagged positions (read from ``label_ids``, padded
    as the predictions are)."""
    if kind == CLASSIFICATION:
        return predicted_labels(predictions)
    values = _first(predictions)
    if kind == REGRESSION:
        if values.ndim == 2 and values.shape[1] == 1:
            values = values[:, 0]
        if values.ndim != 1:
            raise AgoraError(f"A regression model's predictions have shape {values.shape}: expected one score "
                             "per row (num_labels=1).")
        return values.astype(np.float64)
    tags = values.argmax(axis=-1) if values.ndim == 3 else values
    labels = np.asarray(label_ids)
    if tags.ndim != 2 or labels.shape != tags.shape:
        raise AgoraError(f"Token predictions of shape {values.shape} do not line up with the labels' "
                         f"{labels.shape}: Agora needs (rows, tokens, tags) logits or (rows, tokens) tag ids.")
    return [row[mask].astype(np.int64) for row, mask in zip(tags, labels != IGNORED)]


def mistakes(kind: str, predicted: Any, labels: Sequence[Any], tolerance: float = 0.0) -> list[int]:
    """The rows predicted wrong: another class; a score off by more than ``tolerance``; any wrong tag."""
    if kind == CLASSIFICATION:
        return [k for k, (p, y) in enumerate(zip(predicted, labels)) if p != y]
    if kind == REGRESSION:
        return [k for k, (p, y) in enumerate(zip(predicted, labels)) if abs(float(p) - float(y)) > tolerance]
    return [k for k, (p, y) in enumerate(zip(predicted, labels))
            if list(map(int, p)) != [int(t) for t in y if t != IGNORED]]


# ---- labelling new points ------------------------------------------------------------------------------------

@dataclass
class Labelled:
    """The labeller's answer for some points: ``labels`` (a class, a score, or a tag sequence per point),
    ``confidence`` (top probability; for tags the lowest over the tagged positions; 1 for scores) and
    ``targets``, the soft targets distillation trains on (log-probabilities per class or per token, or the
    score)."""

    labels: list[Any]
    confidence: np.ndarray
    targets: list[Any]

    def keep(self, floor: float) -> np.ndarray:
        """Which points reach the confidence ``floor``."""
        return self.confidence >= floor

    def subset(self, keep: np.ndarray) -> Labelled:
        return Labelled([x for x, k in zip(self.labels, keep) if k], self.confidence[keep],
                        [x for x, k in zip(self.targets, keep) if k])


def _log(probabilities: np.ndarray) -> np.ndarray:
    """Log-probabilities (floored at 1e-12): soft targets for the distillation loss."""
    return np.log(np.clip(probabilities, 1e-12, 1.0)).astype(np.float32)


def _probability_rows(array: Any, rows: int, width: int, what: str) -> np.ndarray:
    out = np.asarray(array, dtype=np.float64)
    if out.shape != (rows, width) or not np.all(np.isfinite(out)) or not np.allclose(out.sum(axis=1), 1.0, atol=1e-3):
        raise AgoraError(f"The labeller returned an array of shape {out.shape} for {what}; expected probabilities "
                         f"of shape {(rows, width)} with rows summing to 1.")
    return out


def label_points(kind: str, labeller: Labeller, points: Sequence[Point], num_labels: int,
                 score_range: tuple[float, float] | None = None) -> Labelled:
    """Label ``points`` with ``labeller`` for a task of ``kind`` over ``num_labels`` classes or tags, checking
    its answer's shape. Regression scores are clipped to ``score_range`` (the training labels' range)."""
    if kind == CLASSIFICATION:
        probabilities = _probability_rows(labeller.probabilities(points), len(points), num_labels,
                                          f"{len(points)} points")
        return Labelled([int(i) for i in probabilities.argmax(axis=1)], probabilities.max(axis=1),
                        list(_log(probabilities)))
    if kind == REGRESSION:
        scores = np.asarray(labeller.scores(points), dtype=np.float64).reshape(-1)
        if scores.shape != (len(points),) or not np.all(np.isfinite(scores)):
            raise AgoraError(f"The labeller returned {scores.shape} scores for {len(points)} points: expected one "
                             "finite score per point.")
        if score_range is not None:
            scores = np.clip(scores, *score_range)
        return Labelled([float(s) for s in scores], np.ones(len(points)), [float(s) for s in scores])
    return _label_tags(labeller, points, num_labels)


def _label_tags(labeller: Labeller, points: Sequence[Point], num_labels: int) -> Labelled:
    if not all(isinstance(point, TokenizedPoint) and point.tags is not None for point in points):
        raise AgoraError("Token classification labels tokenized points with tags; got raw text points.")
    answers = list(labeller.tag_probabilities(points))
    if len(answers) != len(points):
        raise AgoraError(f"The labeller returned {len(answers)} tag arrays for {len(points)} points: one per point.")
    labels, confidence, targets = [], [], []
    for point, answer in zip(points, answers):
        positions = point.tagged_positions()
        probabilities = _probability_rows(answer, len(point.input_ids), num_labels,
                                          f"a point of {len(point.input_ids)} tokens")
        tags = [IGNORED] * len(point.input_ids)
        for position in positions:
            tags[position] = int(probabilities[position].argmax())
        labels.append(tags)
        confidence.append(float(probabilities[positions].max(axis=1).min()) if positions else 1.0)
        targets.append(_log(probabilities).tolist())
    return Labelled(labels, np.asarray(confidence), targets)


def relabelled(kind: str, points: Sequence[Point], labels: Sequence[Any]) -> list[Point]:
    """``points`` carrying ``labels`` where a point holds its labels (a tokenized point's tags)."""
    if kind != TOKEN_CLASSIFICATION:
        return list(points)
    return [replace(point, tags=tuple(tags)) for point, tags in zip(points, labels)]


# ---- the loss ------------------------------------------------------------------------------------------------

def distillation_loss(kind: str, logits: torch.Tensor, labels: torch.Tensor, teacher: torch.Tensor,
                      alpha: float, temperature: float) -> torch.Tensor:
    """The task's distillation loss: KL and cross-entropy on classes or on tags (tagged positions only), MSE to
    the label and to the teacher on scores."""
    if kind == REGRESSION:
        return score_distillation_loss(logits, labels, teacher, alpha)
    if kind == TOKEN_CLASSIFICATION:
        return token_distillation_loss(logits, labels, teacher, alpha, temperature)
    return task_distillation_loss(logits, labels, teacher, alpha, temperature)
