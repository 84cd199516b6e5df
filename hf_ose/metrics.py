"""The metric of each task kind, on plain predictions and references: accuracy and macro-F1 (classification),
Pearson and Spearman correlation (regression, embedding similarity), entity-level precision, recall and F1
(token classification, scored by ``seqeval`` as ``evaluate``'s seqeval metric scores it). :func:`trainer_metrics`
wraps them as a ``Trainer`` ``compute_metrics``."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .exceptions import HfOseError

__all__ = ["CLASSIFICATION", "EMBEDDING", "IGNORED_LABEL", "PRIMARY_METRICS", "REGRESSION", "TASK_KINDS",
           "TOKEN_CLASSIFICATION", "MetricError", "are_entity_tags", "compute_task_metrics", "trainer_metrics"]

#: The task kinds, public as :mod:`hf_ose.tasks`' (defined here, the lighter module that both tasks and the
#: Agora loop read).
CLASSIFICATION = "classification"
REGRESSION = "regression"
TOKEN_CLASSIFICATION = "token-classification"
EMBEDDING = "embedding"
TASK_KINDS: tuple[str, ...] = (CLASSIFICATION, REGRESSION, TOKEN_CLASSIFICATION, EMBEDDING)
#: The label id of positions that are not scored (special tokens, later sub-words): transformers' convention.
IGNORED_LABEL = -100
#: The metric each task kind is selected and reported by.
PRIMARY_METRICS: dict[str, str] = {
    CLASSIFICATION: "accuracy",
    REGRESSION: "pearson",
    TOKEN_CLASSIFICATION: "f1",
    EMBEDDING: "spearman",
}
#: An entity tag of IOB2 (``B-TYPE`` or ``I-TYPE``; the other tag is ``O``).
ENTITY_TAG = re.compile(r"^[BI]-\S+$")


class MetricError(HfOseError, ValueError):
    """Predictions and references that cannot be scored together; the message names the fix."""


def compute_task_metrics(kind: str, predictions: Any, references: Any,
                         label_names: Sequence[str] | None = None) -> dict[str, float]:
    """The metrics of task kind ``kind`` (plain floats in 0..1):

    - ``classification``: ``accuracy`` and ``macro_f1`` of class ids (logits are reduced by arg-max);
    - ``regression`` and ``embedding``: ``pearson`` and ``spearman`` of predicted and reference scores (for
      embeddings, the cosine similarity of each pair against its score); NaN when either side is constant;
    - ``token-classification``: entity-level ``precision``, ``recall``, ``f1`` and tag ``accuracy`` of
      sentences of tag ids (per-token logits are reduced by arg-max), names from ``label_names``; positions
      whose reference is -100 are dropped.
    """
    if kind not in PRIMARY_METRICS:
        raise MetricError(f"Unknown task kind {kind!r}: use one of {', '.join(PRIMARY_METRICS)}.")
    if kind == CLASSIFICATION:
        return _classification(np.asarray(predictions), np.asarray(references))
    if kind == TOKEN_CLASSIFICATION:
        if label_names is None:
            raise MetricError("Token classification is scored on tag names: pass label_names (the task's "
                              "label_names, id order).")
        return _entities(predictions, references, tuple(label_names))
    return _correlations(np.asarray(predictions, dtype=np.float64), np.asarray(references, dtype=np.float64))


def trainer_metrics(kind: str, label_names: Sequence[str] | None = None) -> Callable[[Any], dict[str, float]]:
    """A ``Trainer`` ``compute_metrics`` scoring an ``EvalPrediction`` with :func:`compute_task_metrics`."""
    def compute(prediction: Any) -> dict[str, float]:
        outputs = prediction.predictions
        outputs = outputs[0] if isinstance(outputs, tuple) else outputs
        return compute_task_metrics(kind, outputs, prediction.label_ids, label_names)

    return compute


def are_entity_tags(label_names: Sequence[str] | None) -> bool:
    """Whether ``label_names`` are IOB2 tags (each ``O``, ``B-TYPE`` or ``I-TYPE``), which entity scores need."""
    return bool(label_names) and all(name == "O" or ENTITY_TAG.match(name) for name in label_names)


def _classification(predictions: np.ndarray, references: np.ndarray) -> dict[str, float]:
    if predictions.ndim == 2:
        predictions = predictions.argmax(-1)
    _check_lengths(predictions, references)
    predictions, references = predictions.astype(np.int64), references.astype(np.int64)
    scores = []
    for label in np.union1d(predictions, references):
        hits = np.sum((predictions == label) & (references == label))
        claimed, actual = np.sum(predictions == label), np.sum(references == label)
        scores.append(0.0 if hits == 0 else 2 * hits / (claimed + actual))
    return {"accuracy": float(np.mean(predictions == references)), "macro_f1": float(np.mean(scores))}


def _correlations(predictions: np.ndarray, references: np.ndarray) -> dict[str, float]:
    from scipy.stats import pearsonr, spearmanr

    if predictions.ndim == 2 and predictions.shape[1] == 1:
        predictions = predictions[:, 0]
    _check_lengths(predictions, references)
    if len(predictions) < 2:
        raise MetricError(f"A correlation needs at least 2 scored rows, got {len(predictions)}: score more rows.")
    if np.ptp(predictions) == 0 or np.ptp(references) == 0:
        return {"pearson": float("nan"), "spearman": float("nan")}
    return {"pearson": float(pearsonr(predictions, references)[0]),
            "spearman": float(spearmanr(predictions, references)[0])}


def _entities(predictions: Any, references: Any, label_names: tuple[str, ...]) -> dict[str, float]:
    from seqeval.metrics import accuracy_score, f1_score, precision_score, recall_score

    if isinstance(predictions, np.ndarray) and predictions.ndim == 3:
        predictions = predictions.argmax(-1)
    if len(predictions) != len(references):
        raise MetricError(f"{len(predictions)} predicted sentences for {len(references)} references: give one "
                          "tag sequence per sentence.")
    predicted, expected = [], []
    for row, (guess, truth) in enumerate(zip(predictions, references)):
        if len(guess) != len(truth):
            raise MetricError(f"Sentence {row} has {len(guess)} predicted tags for {len(truth)} references: "
                              "predict one tag per position.")
        kept = [(int(g), int(t)) for g, t in zip(guess, truth) if int(t) != IGNORED_LABEL]
        for tag in (tag for pair in kept for tag in pair):
            if not 0 <= tag < len(label_names):
                raise MetricError(f"Tag id {tag} in sentence {row} is outside the {len(label_names)} tags "
                                  f"{label_names}: predict with a head of the task's tags.")
        predicted.append([label_names[g] for g, _ in kept])
        expected.append([label_names[t] for _, t in kept])
    return {"precision": float(precision_score(expected, predicted, zero_division=0)),
            "recall": float(recall_score(expected, predicted, zero_division=0)),
            "f1": float(f1_score(expected, predicted, zero_division=0)),
            "accuracy": float(accuracy_score(expected, predicted))}


def _check_lengths(predictions: np.ndarray, references: np.ndarray) -> None:
    if predictions.ndim != 1 or predictions.shape != references.shape:
        raise MetricError(f"Predictions of shape {predictions.shape} against references of shape "
                          f"{references.shape}: give one prediction per reference.")
