"""How compress scores a model on a task of any kind with a head: its outputs on a split (a class per row, a
score per row, or a tag per word), the task's metric of them (accuracy, Pearson, entity F1), and an artifact's
agreement with the student: the share of equal classes or word tags, or, for scores, their Pearson correlation.
Models run as functions of numpy inputs to numpy logits, so PyTorch models and exported artifacts score alike."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from datasets import Dataset
from tqdm.auto import tqdm
from transformers import PreTrainedTokenizerBase

from ..agora.kinds import row_predictions
from ..data import padding_tokenizer
from ..export.parity import pearson
from ..metrics import IGNORED_LABEL
from ..tasks import REGRESSION, TOKEN_CLASSIFICATION, Task, tokenize_split

#: A model as compress runs it: numpy inputs (``input_ids``...) to numpy logits.
Run = Callable[[dict[str, np.ndarray]], np.ndarray]


@dataclass(frozen=True)
class SplitOutputs:
    """What a model predicts on a split's rows and what it should: class ids, scores, or (token classification)
    one tag-id array per sentence, on the first sub-word of each word the encoding kept."""

    predictions: Any
    references: Any


def split_outputs(run: Run, tokenizer: PreTrainedTokenizerBase, task: Task, rows: Dataset, names: list[str],
                  max_length: int, batch_size: int = 64, desc: str | None = None) -> SplitOutputs:
    """``run``'s outputs on ``rows`` of ``task``, encoded as training encodes them (sentence pairs as pairs, words
    split as given, truncated at ``max_length``), in batches; with ``desc``, a progress bar so described."""
    predictions: list[Any] = []
    references: list[Any] = []
    for inputs, labels in _batches(tokenizer, tokenize_split(task, rows, tokenizer, max_length), names, batch_size,
                                   desc):
        predictions.extend(row_predictions(task.kind, run(inputs), labels))
        references.extend(_references(task.kind, labels))
    if task.kind == TOKEN_CLASSIFICATION:
        return SplitOutputs(predictions, references)
    return SplitOutputs(np.asarray(predictions), np.asarray(references))


def _batches(tokenizer: PreTrainedTokenizerBase, encoded: Dataset, names: list[str], batch_size: int,
             desc: str | None) -> Iterator[tuple[dict[str, np.ndarray], np.ndarray]]:
    """Padded numpy batches of ``encoded`` rows and their labels (per-token labels padded with -100 on the
    tokenizer's padding side; a tokenizer without a padding token pads with its end-of-sequence token)."""
    tokenizer = padding_tokenizer(tokenizer)
    for start in tqdm(range(0, len(encoded), batch_size), desc=desc, disable=desc is None, unit="batch",
                      leave=False):
        rows = encoded[start:start + batch_size]
        labels = rows.pop("labels")
        batch = tokenizer.pad(rows, return_tensors="np")
        inputs = {name: np.asarray(batch[name], dtype=np.int64) for name in names}
        if labels and isinstance(labels[0], list):
            width = inputs["input_ids"].shape[1]
            padded = []
            for row in labels:
                pad = [IGNORED_LABEL] * (width - len(row))
                padded.append(pad + row if tokenizer.padding_side == "left" else row + pad)
            labels = padded
        yield inputs, np.asarray(labels)


def _references(kind: str, labels: np.ndarray) -> list[Any]:
    if kind == TOKEN_CLASSIFICATION:
        return [row[row != IGNORED_LABEL].astype(np.int64) for row in labels]
    return list(labels)


def task_score(task: Task, outputs: SplitOutputs) -> float:
    """The task's metric (:attr:`Task.metric_name`) of ``outputs``."""
    return float(task.compute_metrics(outputs.predictions, outputs.references)[task.metric_name])


@dataclass(frozen=True)
class Agreement:
    """How closely an artifact follows the student: ``value`` is the share of equal predictions over ``units``
    (rows, or word tags for token classification), or for regression the Pearson correlation of their scores
    (``units``: the rows; ``is_share`` false)."""

    value: float
    units: int
    is_share: bool


def agreement(kind: str, artifact: SplitOutputs, student: SplitOutputs) -> Agreement:
    """``artifact``'s agreement with ``student`` on the same rows (see :class:`Agreement`)."""
    if kind == REGRESSION:
        correlation = pearson(artifact.predictions, student.predictions)
        return Agreement(float("nan") if correlation is None else correlation, len(student.predictions), False)
    if kind == TOKEN_CLASSIFICATION:
        ours, theirs = (np.concatenate(outputs.predictions or [np.zeros(0, np.int64)])
                        for outputs in (artifact, student))
    else:
        ours, theirs = np.asarray(artifact.predictions), np.asarray(student.predictions)
    return Agreement(float(np.mean(ours == theirs)) if len(theirs) else float("nan"), len(theirs), True)
