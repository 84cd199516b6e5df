"""The Agora loop's data: labelled points read from a split (raw text, words with tags, or a tokenized
dataset), checked against the student's task, and encoded for a Trainer."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from datasets import Dataset
from transformers import PretrainedConfig, PreTrainedTokenizerBase

from ..tasks import (CLASSIFICATION, REGRESSION, TOKEN_CLASSIFICATION, TOKEN_COLUMNS, align_word_labels,
                     check_tagged_sentence, check_train_labels, find_text_columns, finite_number)
from .interfaces import IGNORED, AgoraError, Point, TokenizedPoint, sides

__all__ = ["INPUT_COLUMNS", "Layout", "LabelSpace", "Split", "TEACHER_COLUMN", "check_label_sets",
           "check_no_overlap", "encode", "layout_of", "read_split"]

#: The column holding the labeller's soft targets when distilling.
TEACHER_COLUMN = "teacher_logits"
#: The per-token model inputs a tokenized point keeps (``input_ids`` is required).
INPUT_COLUMNS = ("input_ids", "attention_mask", "token_type_ids")
#: Where a tokenized dataset keeps its labels, in the order looked for (as transformers' collators read them).
LABEL_COLUMNS = ("labels", "label", "label_ids")


@dataclass(frozen=True)
class LabelSpace:
    """The student's task: its kind, class (or tag) count and, when the config names them, their names."""

    num_labels: int
    names: tuple[str, ...] | None
    label2id: dict[str, int]
    kind: str = CLASSIFICATION

    @classmethod
    def of(cls, config: PretrainedConfig, kind: str = CLASSIFICATION) -> LabelSpace:
        id2label = {int(k): str(v) for k, v in (config.id2label or {}).items()}
        names = tuple(id2label.get(i, f"LABEL_{i}") for i in range(config.num_labels))
        named = names if any(n != f"LABEL_{i}" for i, n in enumerate(names)) else None
        label2id = {str(k): int(v) for k, v in (config.label2id or {}).items()}
        return cls(config.num_labels, named, label2id, kind)


@dataclass
class Split:
    """A split's points and labels (a class, a score, or a tag per token), in row order. ``width`` is the length
    every row of a tokenized dataset was padded to (None: unpadded), which new points are padded to as well."""

    name: str
    points: list[Point]
    labels: list[Any] = field(default_factory=list)
    width: int | None = None

    def __len__(self) -> int:
        return len(self.points)

    def extended(self, points: Sequence[Point], labels: Sequence[Any]) -> Split:
        """A new split: these rows, then ``points`` with ``labels``."""
        return Split(self.name, [*self.points, *points], [*self.labels, *labels], self.width)

    def held_out(self, share: float, seed: int) -> tuple[list[int], list[int]]:
        """The row numbers of the rest and of a seeded draw of ``share`` of the rows (at least one each), each in
        row order."""
        count = round(share * len(self))
        if not 0 < count < len(self):
            raise AgoraError(f"A share of {share:g} holds out {count} of the {len(self)} rows of the {self.name} and "
                             f"keeps {len(self) - count}: both need a row. Give a share that splits it, or 0.")
        drawn = set(np.random.default_rng(seed).permutation(len(self))[:count].tolist())
        return [k for k in range(len(self)) if k not in drawn], sorted(drawn)

    def rows(self, numbers: Sequence[int]) -> Split:
        """A new split of these rows, in the order given."""
        return Split(self.name, [self.points[k] for k in numbers], [self.labels[k] for k in numbers], self.width)


@dataclass(frozen=True)
class Layout:
    """How a dataset's rows hold examples: ``"text"`` (``columns`` are the text columns, labels in ``label``),
    ``"words"`` (``tokens`` and ``ner_tags``) or ``"tokenized"`` (model inputs, labels in ``label_column``)."""

    form: str
    columns: tuple[str, ...]
    label_column: str = "label"

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


def layout_of(data: Any, configured: tuple[str, ...] | None, name: str) -> Layout:
    """How ``data`` holds its examples: ``configured`` text columns; else model inputs (``input_ids``, as a
    tokenized dataset for Trainer has); else ``tokens`` with ``ner_tags``; else the text columns ``sentence``,
    or ``sentence1`` and ``sentence2``."""
    columns = _rows(data, name).column_names
    if configured is not None:
        missing = [c for c in configured if c not in columns]
        if missing:
            raise AgoraError(f"The {name} has no column {missing} (columns: {columns}): fix agora_text_columns.")
        return Layout("text", configured)
    if "input_ids" in columns:
        label = next((c for c in LABEL_COLUMNS if c in columns), None)
        if label is None:
            raise AgoraError(f"The {name} is tokenized (input_ids) but has no labels (columns: {columns}): Agora "
                             "finds mistakes against labels, so add a 'labels' column (for token classification, "
                             "tags aligned to the tokens with -100 on special tokens and later sub-words).")
        return Layout("tokenized", tuple(c for c in INPUT_COLUMNS if c in columns), label)
    if TOKEN_COLUMNS[0] in columns:
        if TOKEN_COLUMNS[1] not in columns:
            raise AgoraError(f"The {name} has words ('tokens') but no 'ner_tags' column (columns: {columns}): "
                             "give each word's tag in 'ner_tags'.")
        return Layout("words", TOKEN_COLUMNS, TOKEN_COLUMNS[1])
    text = find_text_columns(columns)
    if text is not None:
        return Layout("text", text)
    raise AgoraError(f"The {name} has columns {columns}, none of them 'sentence' or 'sentence1'+'sentence2', "
                     "'tokens' or 'input_ids': set AgoraArguments.agora_text_columns to its text column(s), or "
                     "give a tokenized dataset.")


def read_split(data: Any, layout: Layout, space: LabelSpace, name: str, tokenizer: PreTrainedTokenizerBase,
               max_length: int) -> Split:
    """``data``'s points and labels, checked: not empty, every row labelled, every label fits the student's
    task (a class in its label space, a finite score, a tag per token). Words are tokenized here, their tags
    aligned to the first sub-word of each word."""
    rows = _rows(data, name)
    if layout.form == "tokenized":
        return _read_tokenized(rows, layout, space, name, tokenizer)
    if layout.form == "words":
        _expect(space, TOKEN_CLASSIFICATION, "words with tags ('tokens', 'ner_tags')", name)
        return _read_words(rows, space, name, tokenizer, max_length)
    if "label" not in rows.column_names:
        raise AgoraError(f"The {name} has no 'label' column (columns: {rows.column_names}): Agora needs labelled "
                         "rows in every split.")
    _expect(space, (CLASSIFICATION, REGRESSION), "one label per row of raw text", name)
    texts = [rows[c] for c in layout.columns]
    points: list[Point] = list(texts[0]) if len(texts) == 1 else list(zip(texts[0], texts[1]))
    for point in points:
        if not all(isinstance(side, str) for side in sides(point)):
            raise AgoraError(f"The {name} has a row whose text is not a string ({point!r}): fill or drop it.")
    return Split(name, points, _labels(rows["label"], space, name))


_HEADS = {CLASSIFICATION: "a sequence classifier (AutoModelForSequenceClassification, num_labels >= 2)",
          REGRESSION: "a regression head (AutoModelForSequenceClassification, num_labels=1)",
          TOKEN_CLASSIFICATION: "a token classifier (AutoModelForTokenClassification)"}


def _expect(space: LabelSpace, kinds: str | tuple[str, ...], what: str, name: str) -> None:
    """Refuse labels of a shape the student's head does not make."""
    kinds = (kinds,) if isinstance(kinds, str) else kinds
    if space.kind not in kinds:
        raise AgoraError(f"The {name} has {what}, but the student is {_HEADS[space.kind]}: the head does not match "
                         f"the labels. Load the student as {' or '.join(_HEADS[k] for k in kinds)}, or give "
                         "labels of its task.")


def _read_tokenized(rows: Dataset, layout: Layout, space: LabelSpace, name: str,
                    tokenizer: PreTrainedTokenizerBase) -> Split:
    columns = {c: rows[c] for c in layout.columns}
    values = rows[layout.label_column]
    per_token = isinstance(values[0], (list, tuple, np.ndarray))
    if per_token:
        _expect(space, TOKEN_CLASSIFICATION, f"a label per token in {layout.label_column!r}", name)
    else:
        _expect(space, (CLASSIFICATION, REGRESSION), f"one label per row in {layout.label_column!r}", name)
    points, labels = [], []
    for index, value in enumerate(values):
        inputs = {c: [int(x) for x in columns[c][index]] for c in layout.columns}
        tags = _tags(value, len(inputs["input_ids"]), space, name, index) if per_token else None
        mask = inputs.get("attention_mask")
        keep = [i for i in range(len(inputs["input_ids"])) if mask is None or mask[i]]
        if tags is not None and len(keep) < len(tags) and any(tags[i] != IGNORED for i in
                                                               set(range(len(tags))) - set(keep)):
            raise AgoraError(f"Row {index} of the {name} has a tag on a padding position: tag only real tokens.")
        point = TokenizedPoint(**{c: tuple(v[i] for i in keep) for c, v in inputs.items()},
                               tags=None if tags is None else tuple(tags[i] for i in keep))
        points.append(point)
        labels.append(list(point.tags) if per_token else value)
    labels = labels if per_token else _labels(labels, space, name)
    lengths = {len(ids) for ids in columns["input_ids"]}
    padded = "attention_mask" in columns and any(0 in mask for mask in columns["attention_mask"])
    width = lengths.pop() if len(lengths) == 1 and padded else None
    if width is not None and tokenizer.pad_token_id is None:
        raise AgoraError(f"The {name} is padded but the tokenizer has no pad token to pad new points with: set "
                         "tokenizer.pad_token.")
    return Split(name, points, labels, width)


def _tags(value: Any, length: int, space: LabelSpace, name: str, index: int) -> list[int]:
    """A row's per-token labels, checked: one per token, each a tag id or -100."""
    tags = list(value)
    if len(tags) != length:
        raise AgoraError(f"Row {index} of the {name} has {len(tags)} labels for {length} tokens: align the tags to "
                         "the tokens (first sub-word tagged, the rest -100), as for "
                         "DataCollatorForTokenClassification.")
    bad = [t for t in tags if isinstance(t, bool) or not isinstance(t, (int, np.integer))
           or not (t == IGNORED or 0 <= t < space.num_labels)]
    if bad:
        raise AgoraError(f"Row {index} of the {name} has tags {sorted(set(bad))[:3]}: tags must be ids in [0, "
                         f"{space.num_labels}) (the student's num_labels) or -100 for positions that do not count.")
    return [int(t) for t in tags]


def _read_words(rows: Dataset, space: LabelSpace, name: str, tokenizer: PreTrainedTokenizerBase,
                max_length: int) -> Split:
    if not tokenizer.is_fast:
        raise AgoraError(f"Aligning word tags to sub-words needs a fast tokenizer's word_ids; "
                         f"{type(tokenizer).__name__} is not one: load it with AutoTokenizer(..., use_fast=True).")
    points, labels = [], []
    for index, (words, names) in enumerate(zip(rows[TOKEN_COLUMNS[0]], rows[TOKEN_COLUMNS[1]])):
        check_tagged_sentence(words, names, f"Row {index} of the {name}", AgoraError)
        ids = [space.label2id[t] if isinstance(t, str) and t in space.label2id else t for t in names]
        point = words_point(words, tokenizer, max_length, _word_tags(ids, space, name, index))
        points.append(point)
        labels.append(list(point.tags))
    return Split(name, points, labels)


def words_point(words: Sequence[str], tokenizer: PreTrainedTokenizerBase, max_length: int,
                word_tags: Sequence[int] | None = None) -> TokenizedPoint:
    """A sentence of words as a token-classification point: tokenized as words (cut at ``max_length`` tokens),
    each word's tag on its first sub-word and :data:`IGNORED` elsewhere. Without ``word_tags`` (a sentence of an
    unlabelled pool) every word carries tag 0 until a labeller re-tags it."""
    encoded = tokenizer(list(words), is_split_into_words=True, truncation=True, max_length=max_length)
    tags = align_word_labels(encoded.word_ids(), list(word_tags) if word_tags is not None else [0] * len(words))
    return TokenizedPoint(**{c: tuple(encoded[c]) for c in INPUT_COLUMNS if c in encoded}, tags=tuple(tags))


def pool_words_point(text: str, tokenizer: PreTrainedTokenizerBase, max_length: int) -> TokenizedPoint:
    """An unlabelled pool's sentence (words joined by spaces, as :func:`word_sentences` writes them) as an
    untagged token-classification point."""
    return words_point(text.split(), tokenizer, max_length)


def word_sentences(data: Any, name: str) -> list[str]:
    """Each row's words (``tokens``) joined by spaces: the form an unlabelled pool holds a sentence in."""
    return [" ".join(words) for words in _rows(data, name)[TOKEN_COLUMNS[0]]]


def _word_tags(tags: list[Any], space: LabelSpace, name: str, index: int) -> list[int]:
    bad = [t for t in tags if isinstance(t, bool) or not isinstance(t, (int, np.integer))
           or not 0 <= t < space.num_labels]
    if bad:
        raise AgoraError(f"Row {index} of the {name} has tags {sorted(set(bad))[:3]}: give tag ids in "
                         f"[0, {space.num_labels}) or names from the student's config.label2id.")
    return [int(t) for t in tags]


def _labels(values: Sequence[Any], space: LabelSpace, name: str) -> list[int | float]:
    """A split's per-row labels for the student's task; scores given to a classifier are refused as such."""
    if space.kind == CLASSIFICATION:
        scores = [v for v in values if isinstance(v, (float, np.floating)) and math.isfinite(v)
                  and not float(v).is_integer()]
        if scores:
            raise AgoraError(f"The {name} has label {scores[0]!r}, a score, but the student classifies "
                             f"{space.num_labels} classes: for regression load it with num_labels=1 "
                             "(problem_type 'regression').")
    return [_label(value, space, name) for value in values]


def _label(value: Any, space: LabelSpace, name: str) -> int | float:
    """A row's label for the student's task: a class id (or a name in its label2id), or a finite score."""
    if space.kind == REGRESSION:
        score = finite_number(value)
        if score is not None:
            return score
        raise AgoraError(f"The {name} has label {value!r}: a regression student (num_labels=1) needs a finite "
                         "score per row.")
    if isinstance(value, str):
        if value not in space.label2id:
            raise AgoraError(f"The {name} has label {value!r}, which the student's config.label2id "
                             f"{space.label2id} does not name: set the model's id2label/label2id, or give "
                             "integer labels.")
        return space.label2id[value]
    if isinstance(value, (float, np.floating)) and math.isfinite(value):
        value = int(value)
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool) and 0 <= value < space.num_labels:
        return int(value)
    raise AgoraError(f"The {name} has label {value!r}: labels must be integers in [0, {space.num_labels}) "
                     "(the student's num_labels) or names from its label2id; unlabelled rows (None, -1) "
                     "cannot be used.")


def check_label_sets(train: Split, *others: Split) -> None:
    """Refuse a split whose classes the training set never shows: the splits would be different tasks (scores
    and tags are not compared)."""
    if all(isinstance(label, int) for label in train.labels):
        check_train_labels(train.labels, {split.name: split.labels for split in others}, "training set", AgoraError)


def _content(point: Point) -> Any:
    """What makes two points the same example: the text, or the token ids."""
    return point.input_ids if isinstance(point, TokenizedPoint) else point


def check_no_overlap(dev: Split, test: Split) -> None:
    """Refuse a test set sharing any point (by text, or by token ids) with the development set, which the loop
    reads."""
    shared = set(map(_content, dev.points)) & set(map(_content, test.points))
    if shared:
        example = next(iter(sorted(shared, key=repr)))
        raise AgoraError(f"The test set shares {len(shared)} point(s) with the development set (e.g. {example!r}): "
                         "Agora trains on points near development mistakes, so only a disjoint test set gives an "
                         "honest score. Remove the shared rows from one of them.")


def encode(tokenizer: PreTrainedTokenizerBase, split: Split, max_length: int,
           teacher_targets: Sequence[Any] | None = None) -> Dataset:
    """``split`` as a Trainer dataset: model inputs (text tokenized unpadded and truncated at ``max_length``;
    tokenized points as they are, padded to ``split.width`` when the dataset was), ``labels`` and, when given,
    the labeller's soft targets in :data:`TEACHER_COLUMN`."""
    if split.points and isinstance(split.points[0], TokenizedPoint):
        rows = [_padded(point.inputs(), label, split.width, tokenizer)
                for point, label in zip(split.points, split.labels)]
        columns = {name: [row[name] for row in rows] for name in rows[0]}
    else:
        texts = [sides(p) for p in split.points]
        arguments = [[t[0] for t in texts]] + ([[t[1] for t in texts]] if texts and len(texts[0]) == 2 else [])
        columns = dict(tokenizer(*arguments, truncation=True, max_length=max_length))
        columns["labels"] = list(split.labels)
    if teacher_targets is not None:
        columns[TEACHER_COLUMN] = [np.asarray(t, dtype=np.float32).tolist() for t in teacher_targets]
    return Dataset.from_dict(columns)


def _padded(inputs: dict[str, list[int]], label: Any, width: int | None,
            tokenizer: PreTrainedTokenizerBase) -> dict[str, Any]:
    """A tokenized row with its labels, padded on the tokenizer's side to ``width`` (None: as it is)."""
    row = {**inputs, "labels": list(label) if isinstance(label, (list, tuple)) else label}
    missing = 0 if width is None else width - len(inputs["input_ids"])
    if missing <= 0:
        return row
    fill = {"input_ids": tokenizer.pad_token_id, "attention_mask": 0, "token_type_ids": tokenizer.pad_token_type_id,
            "labels": IGNORED}
    left = tokenizer.padding_side == "left"
    return {name: ([fill[name]] * missing + value if left else value + [fill[name]] * missing)
            if isinstance(value, list) else value for name, value in row.items()}
