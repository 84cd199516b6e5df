"""The Agora loop's data: labelled points read from raw-text splits, checked, and encoded for a Trainer."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from datasets import Dataset
from transformers import PretrainedConfig, PreTrainedTokenizerBase

from .interfaces import AgoraError, Point, sides

__all__ = ["LabelSpace", "Split", "TEACHER_COLUMN", "check_label_sets", "check_no_overlap", "encode", "read_split",
           "text_columns"]

#: The column holding the labeller's log-probabilities when distilling.
TEACHER_COLUMN = "teacher_logits"


@dataclass(frozen=True)
class LabelSpace:
    """The student's classes: their count and, when the config names them, their names in id order."""

    num_labels: int
    names: tuple[str, ...] | None
    label2id: dict[str, int]

    @classmethod
    def of(cls, config: PretrainedConfig) -> LabelSpace:
        id2label = {int(k): str(v) for k, v in (config.id2label or {}).items()}
        names = tuple(id2label.get(i, f"LABEL_{i}") for i in range(config.num_labels))
        named = names if any(n != f"LABEL_{i}" for i, n in enumerate(names)) else None
        label2id = {str(k): int(v) for k, v in (config.label2id or {}).items()}
        return cls(config.num_labels, named, label2id)


@dataclass
class Split:
    """A split's points and integer labels, in row order."""

    name: str
    points: list[Point]
    labels: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.points)

    def extended(self, points: Sequence[Point], labels: Sequence[int]) -> Split:
        """A new split: these rows, then ``points`` with ``labels``."""
        return Split(self.name, [*self.points, *points], [*self.labels, *map(int, labels)])


def _rows(data: Any, name: str) -> Dataset:
    """``data`` as a non-empty ``datasets.Dataset``."""
    rows = data
    if not isinstance(data, Dataset) and isinstance(data, Sequence) and not isinstance(data, (str, bytes)):
        rows = list(data)
        rows = Dataset.from_list(rows) if all(isinstance(row, dict) for row in rows) else None
    if not isinstance(rows, Dataset):
        raise AgoraError(f"The {name} must be a datasets.Dataset or a list of dicts with raw text columns and "
                         f"'label', got {type(data).__name__}.")
    if len(rows) == 0:
        raise AgoraError(f"The {name} is empty: give it labelled rows.")
    return rows


def text_columns(data: Any, configured: tuple[str, ...] | None, name: str) -> tuple[str, ...]:
    """The text columns of ``data``: ``configured``, else ``sentence``, else ``sentence1`` and ``sentence2``."""
    columns = _rows(data, name).column_names
    if configured is not None:
        missing = [c for c in configured if c not in columns]
        if missing:
            raise AgoraError(f"The {name} has no column {missing} (columns: {columns}): fix agora_text_columns.")
        return configured
    for candidate in (("sentence",), ("sentence1", "sentence2")):
        if all(c in columns for c in candidate):
            return candidate
    raise AgoraError(f"The {name} has columns {columns}, none of them 'sentence' or 'sentence1'+'sentence2': "
                     "set AgoraArguments.agora_text_columns to its text column(s).")


def read_split(data: Any, columns: tuple[str, ...], space: LabelSpace, name: str) -> Split:
    """``data``'s points and labels (integers, or names mapped through the student's ``label2id``), checked:
    not empty, every row labelled, every label in the student's label space."""
    rows = _rows(data, name)
    if "label" not in rows.column_names:
        raise AgoraError(f"The {name} has no 'label' column (columns: {rows.column_names}): Agora needs labelled "
                         "rows in every split.")
    texts = [rows[c] for c in columns]
    points: list[Point] = list(texts[0]) if len(texts) == 1 else list(zip(texts[0], texts[1]))
    for point in points:
        if not all(isinstance(side, str) for side in sides(point)):
            raise AgoraError(f"The {name} has a row whose text is not a string ({point!r}): fill or drop it.")
    return Split(name, points, [_label(value, space, name) for value in rows["label"]])


def _label(value: Any, space: LabelSpace, name: str) -> int:
    if isinstance(value, str):
        if value not in space.label2id:
            raise AgoraError(f"The {name} has label {value!r}, which the student's config.label2id "
                             f"{space.label2id} does not name: set the model's id2label/label2id, or give "
                             "integer labels.")
        return space.label2id[value]
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool) and 0 <= value < space.num_labels:
        return int(value)
    raise AgoraError(f"The {name} has label {value!r}: labels must be integers in [0, {space.num_labels}) "
                     "(the student's num_labels) or names from its label2id; unlabelled rows (None, -1) "
                     "cannot be used.")


def check_label_sets(train: Split, *others: Split) -> None:
    """Refuse a split whose labels the training set never shows: the splits would be different tasks."""
    seen = set(train.labels)
    for split in others:
        extra = sorted(set(split.labels) - seen)
        if extra:
            raise AgoraError(f"The {split.name} has labels {extra} that the training set never has "
                             f"(training labels: {sorted(seen)}): the splits must share one label set.")


def check_no_overlap(dev: Split, test: Split) -> None:
    """Refuse a test set sharing any point (by text) with the development set, which the loop reads."""
    shared = set(dev.points) & set(test.points)
    if shared:
        example = next(iter(sorted(shared, key=repr)))
        raise AgoraError(f"The test set shares {len(shared)} point(s) with the development set (e.g. {example!r}): "
                         "Agora trains on points near development mistakes, so only a disjoint test set gives an "
                         "honest score. Remove the shared rows from one of them.")


def encode(tokenizer: PreTrainedTokenizerBase, split: Split, max_length: int,
           teacher_log_probs: np.ndarray | None = None) -> Dataset:
    """``split`` tokenized (unpadded, truncated at ``max_length``) with ``labels`` and, when given, the labeller's
    log-probabilities in :data:`TEACHER_COLUMN`."""
    texts = [sides(p) for p in split.points]
    arguments = [[t[0] for t in texts]] + ([[t[1] for t in texts]] if texts and len(texts[0]) == 2 else [])
    columns = dict(tokenizer(*arguments, truncation=True, max_length=max_length))
    columns["labels"] = list(split.labels)
    if teacher_log_probs is not None:
        columns[TEACHER_COLUMN] = np.asarray(teacher_log_probs, dtype=np.float32).tolist()
    return Dataset.from_dict(columns)
