"""Tasks with train, validation and test splits, of four kinds (:data:`TASK_KINDS`): text classification, regression
(a float score per sentence or pair), token classification (tokens and BIO tags) and sentence embedding (unlabelled
text, scored on sentence pairs with a similarity score). Read from a folder of files, by name (GLUE SST-2, RTE and
STS-B, WNUT-17) or from a ``datasets`` id, and tokenized for a ``Trainer`` by :func:`tokenize_task`. Files are read
by :mod:`hf_ose.data`; :class:`TaskError` is a :class:`~hf_ose.data.DataError`; each kind's metric is in
:mod:`hf_ose.metrics`."""

from __future__ import annotations

import dataclasses
import json
import math
import numbers
import os
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import datasets
import numpy as np
from transformers import PreTrainedTokenizerBase

from .data import DataError, is_integer_label, looks_like_conll, parse_conll, read_rows
from .metrics import (CLASSIFICATION, EMBEDDING, ENTITY_TAG, IGNORED_LABEL, PRIMARY_METRICS, REGRESSION, TASK_KINDS,
                      TOKEN_CLASSIFICATION, compute_task_metrics)

__all__ = [
    "CLASSIFICATION", "EMBEDDING", "NAMED_TASKS", "REGRESSION", "SPLITS", "TASK_FILE", "TASK_KINDS", "TEXT_COLUMNS",
    "TOKEN_CLASSIFICATION", "TOKEN_COLUMNS", "Task", "TaskError", "align_word_labels", "check_tagged_sentence",
    "check_train_labels", "finite_number", "find_text_columns", "load_task", "tokenize_split", "tokenize_task",
]

#: The splits every task has, in order.
SPLITS: tuple[str, ...] = ("train", "validation", "test")
#: The file types a task folder may hold, one file per split (``.txt``: CoNLL columns, or one sentence per line).
EXTENSIONS: tuple[str, ...] = (".tsv", ".csv", ".jsonl", ".conll", ".txt")
#: The optional file in a task folder that declares what detection cannot tell: ``kind``, ``score_range``
#: (regression and embedding scores) and ``label_names`` (class or tag names, by id).
TASK_FILE = "task.json"
#: The environment variable naming a folder that holds task folders named as in :data:`NAMED_TASKS`.
DATA_DIR_VARIABLE = "HF_OSE_DATA_DIR"
#: The text columns a task's rows may have, in the order they are looked for: one sentence, or a sentence pair.
TEXT_COLUMNS: tuple[tuple[str, ...], ...] = (("sentence",), ("sentence1", "sentence2"))
#: The columns of a token-classification row, and of an embedding task's similarity rows (with a score).
TOKEN_COLUMNS: tuple[str, str] = ("tokens", "ner_tags")
PAIR_COLUMNS: tuple[str, str] = ("sentence1", "sentence2")


class TaskError(DataError):
    """A task that cannot be read or used as given; the message names the problem and the fix."""


@dataclass(frozen=True)
class Declared:
    """What is known of a task before its rows are read: its kind, its class or tag names (by id) and the range
    its scores must lie in. ``None``: detected from the rows (kind, names) or unchecked (range)."""

    kind: str | None = None
    label_names: tuple[str, ...] | None = None
    score_range: tuple[float, float] | None = None

    def over(self, other: Declared) -> Declared:
        """These declarations where given, ``other``'s elsewhere."""
        return Declared(*(mine if mine is not None else theirs
                          for mine, theirs in zip(dataclasses.astuple(self), dataclasses.astuple(other))))


@dataclass(frozen=True)
class NamedTask:
    """A task known by name: its declarations and its Hub copy (GLUE's splits are re-cut, see :func:`load_task`)."""

    declared: Declared
    dataset: str
    config: str | None = None

    @property
    def glue(self) -> bool:
        return self.dataset == "nyu-mll/glue"


#: The tasks :func:`load_task` knows by name.
NAMED_TASKS: dict[str, NamedTask] = {
    "sst2": NamedTask(Declared(CLASSIFICATION, ("negative", "positive")), "nyu-mll/glue", "sst2"),
    "rte": NamedTask(Declared(CLASSIFICATION, ("entailment", "not_entailment")), "nyu-mll/glue", "rte"),
    "stsb": NamedTask(Declared(REGRESSION, score_range=(0.0, 5.0)), "nyu-mll/glue", "stsb"),
    "wnut17": NamedTask(Declared(TOKEN_CLASSIFICATION), "leondz/wnut_17"),
}


@dataclass(frozen=True)
class Task:
    """Three ``datasets.Dataset`` splits of one kind; the test split is for the final, honest score only.

    Columns by ``kind``: classification: ``text_columns`` and an int64 ``label`` (ids into ``label_names``);
    regression: ``text_columns`` and a float32 ``label`` (within ``score_range`` when declared);
    token classification: ``tokens`` (strings) and ``ner_tags`` (int64 ids into ``label_names``, IOB2 names
    such as ``B-person``), ``text_columns == ("tokens",)``; embedding: train has ``sentence`` (unlabelled text),
    validation and test ``sentence1``, ``sentence2`` and a float32 similarity ``label`` (empty when the task has
    no similarity split)."""

    name: str
    train: datasets.Dataset
    validation: datasets.Dataset
    test: datasets.Dataset
    text_columns: tuple[str, ...]
    label_names: tuple[str, ...]
    kind: str = CLASSIFICATION
    score_range: tuple[float, float] | None = None

    @property
    def num_labels(self) -> int:
        """The outputs of the task's head: one for regression, one per class or tag otherwise (none: embedding)."""
        return 1 if self.kind == REGRESSION else len(self.label_names)

    @property
    def id2label(self) -> dict[int, str]:
        return dict(enumerate(self.label_names))

    @property
    def label2id(self) -> dict[str, int]:
        return {name: index for index, name in enumerate(self.label_names)}

    @property
    def metric_name(self) -> str:
        """The metric the task is selected and reported by: accuracy, pearson, f1 (entities) or spearman."""
        return PRIMARY_METRICS[self.kind]

    def compute_metrics(self, predictions: Any, references: Any) -> dict[str, float]:
        """The task's metrics (:func:`hf_ose.metrics.compute_task_metrics`) of ``predictions`` against
        ``references``: class ids, scores (for embeddings, the pairs' cosine similarities) or tag-id sentences."""
        return compute_task_metrics(self.kind, predictions, references, self.label_names)

    def subsample(self, train: int | None = None, validation: int | None = None, test: int | None = None,
                  seed: int = 0) -> Task:
        """The task with at most ``train``/``validation``/``test`` rows per split (``None``: all), drawn at
        random under ``seed``."""
        def draw(split: datasets.Dataset, rows: int | None) -> datasets.Dataset:
            if rows is not None and rows < 1:
                raise TaskError(f"Cannot keep {rows} rows of a split: keep at least 1 (or None for all).")
            if rows is None or rows >= len(split):
                return split
            return split.shuffle(seed=seed).select(range(rows))

        return dataclasses.replace(self, train=draw(self.train, train), validation=draw(self.validation, validation),
                                   test=draw(self.test, test))

    def without_validation_rows_in_test(self) -> tuple[Task, int]:
        """The task with every test row whose text also appears in the validation split left out, and how many
        were. Agora reads the validation split (AgoraTrainer refuses an overlapping test set), so such rows would
        not score honestly; GLUE's RTE repeats one pair across the two."""
        seen = set(_texts(self.validation))
        kept = [index for index, text in enumerate(_texts(self.test)) if text not in seen]
        if len(kept) == len(self.test):
            return self, 0
        return dataclasses.replace(self, test=self.test.select(kept)), len(self.test) - len(kept)

    def describe(self) -> str:
        """One line: name, kind, split sizes, text columns and what is predicted."""
        sizes = " / ".join(f"{len(getattr(self, split))}" for split in SPLITS)
        scores = f"scores in [{self.score_range[0]:g}, {self.score_range[1]:g}]" if self.score_range else "scores"
        target = {
            CLASSIFICATION: f"labels {', '.join(self.label_names)}",
            REGRESSION: scores,
            TOKEN_CLASSIFICATION: f"tags {', '.join(self.label_names)}",
            EMBEDDING: f"unlabelled train text; similarity {scores} in validation/test" if len(self.test)
            else "unlabelled train text; no similarity split",
        }[self.kind]
        return (f"{self.name} ({self.kind}): {sizes} rows (train / validation / test), text "
                f"{', '.join(self.text_columns)}, {target}")


def _texts(split: datasets.Dataset) -> list[tuple[Any, ...]]:
    """Each row's text (every column but the label or tags), hashable."""
    columns = [column for column in split.column_names if column not in ("label", TOKEN_COLUMNS[1])]
    return [tuple(tuple(value) if isinstance(value, list) else value for value in row)
            for row in zip(*(split[column] for column in columns))]


def load_task(spec: str | Path, kind: str | None = None) -> Task:
    """The task ``spec`` names:

    - a folder holding ``train``, ``validation`` and ``test`` files (``.tsv``, ``.csv``, ``.jsonl``, or CoNLL
      columns in ``.conll``/``.txt``), its kind told by its columns: ``tokens`` and ``ner_tags`` (or CoNLL
      ``token<TAB>tag`` lines): token classification; a ``score`` column, or a ``label`` of non-integer
      numbers: regression; a ``label`` of classes: classification; a train split of ``sentence`` rows alone
      (a ``.txt`` file: one sentence per line) with optional validation/test files of ``sentence1``,
      ``sentence2`` and a similarity ``score``: embedding. A ``task.json`` in the folder declares ``kind``,
      ``score_range`` ``[low, high]`` and ``label_names`` where detection cannot tell;
    - a name of :data:`NAMED_TASKS` (``sst2``, ``rte``, ``stsb``, ``wnut17``): the folder
      ``$HF_OSE_DATA_DIR/<name>`` when that variable is set; otherwise the Hub copy through ``datasets``, where
      for GLUE tasks GLUE's validation split is the test split (GLUE's test labels are hidden) and
      train/validation are a fixed 90/10 split of GLUE's train split (seed 0);
    - a ``datasets`` id ``NAME[:CONFIG]`` with labelled train, validation and test splits.

    ``kind`` overrides the detected or declared kind. A sentence-pair task read as ``embedding`` keeps its
    scored validation and test pairs, and its train pairs' sentences become the unlabelled text.

    Named classes get ids in sorted order of the train split's names, integer classes are kept as ids; every
    split's classes must occur in the train split. Tags must be IOB2 (``O``, ``B-TYPE``, ``I-TYPE`` continuing a
    ``B-TYPE`` or ``I-TYPE``), numbered ``O`` first, then ``B-``/``I-`` per type in sorted order.
    """
    if kind is not None and kind not in TASK_KINDS:
        raise TaskError(f"Unknown task kind {kind!r}: use one of {', '.join(TASK_KINDS)}.")
    override = Declared(kind=kind)
    text = str(spec)
    if Path(spec).is_dir():
        return _from_folder(Path(spec), override)
    if text in NAMED_TASKS:
        named = NAMED_TASKS[text]
        folder = os.environ.get(DATA_DIR_VARIABLE)
        if folder:
            if not (Path(folder) / text).is_dir():
                raise TaskError(f"{DATA_DIR_VARIABLE}={folder} has no folder {text!r}: put the {text} train, "
                                f"validation and test files in {Path(folder) / text}, or unset {DATA_DIR_VARIABLE} "
                                "to load it through datasets.")
            return _from_folder(Path(folder) / text, override.over(named.declared), name=text)
        return _from_named(text, named, override.over(named.declared))
    return _from_hub(text, override)


# ---- sources ----------------------------------------------------------------------------------------------
def _from_folder(folder: Path, declared: Declared, name: str | None = None) -> Task:
    declared = declared.over(_task_file(folder))
    train = _read_split(_split_file(folder, "train"))
    kind = declared.kind or _detect_kind(train, str(folder))
    rows = {"train": train}
    for split in SPLITS[1:]:
        path = _split_file(folder, split, optional=kind == EMBEDDING)
        rows[split] = _read_split(path) if path is not None else []
    return _build(name or folder.name, rows, dataclasses.replace(declared, kind=kind), str(folder))


def _task_file(folder: Path) -> Declared:
    """The declarations of ``folder/task.json`` (none when there is no such file), checked."""
    path = folder / TASK_FILE
    if not path.is_file():
        return Declared()
    fix = (f"write {TASK_FILE} as a JSON object with any of 'kind' (one of {', '.join(TASK_KINDS)}), "
           "'score_range' ([low, high]) and 'label_names' (a list of names, by id).")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise TaskError(f"{path} is not JSON ({error.msg}): {fix}") from error
    if not isinstance(data, dict) or set(data) - {"kind", "score_range", "label_names"}:
        raise TaskError(f"{path} holds {str(data)[:120]}: {fix}")
    kind, bounds, names = data.get("kind"), data.get("score_range"), data.get("label_names")
    if kind is not None and kind not in TASK_KINDS:
        raise TaskError(f"{path} declares the kind {kind!r}: {fix}")
    if bounds is not None and not (isinstance(bounds, list) and len(bounds) == 2
                                   and all(finite_number(value) is not None for value in bounds)
                                   and float(bounds[0]) < float(bounds[1])):
        raise TaskError(f"{path} declares the score range {bounds!r}: give two numbers, low < high; {fix}")
    if names is not None and not (isinstance(names, list) and names and all(isinstance(n, str) for n in names)
                                  and len(set(names)) == len(names)):
        raise TaskError(f"{path} declares the label names {names!r}: give distinct strings; {fix}")
    return Declared(kind, tuple(names) if names else None,
                    (float(bounds[0]), float(bounds[1])) if bounds is not None else None)


def _split_file(folder: Path, split: str, optional: bool = False) -> Path | None:
    found = [folder / f"{split}{extension}" for extension in EXTENSIONS if (folder / f"{split}{extension}").is_file()]
    accepted = ", ".join(f"{split}{extension}" for extension in EXTENSIONS)
    if not found and not optional:
        raise TaskError(f"The task folder {folder} has no {split} file: add one of {accepted} (a task folder holds "
                        f"one file per split: {', '.join(SPLITS)}).")
    if len(found) > 1:
        raise TaskError(f"The task folder {folder} has several {split} files ({', '.join(p.name for p in found)}): "
                        "keep exactly one per split.")
    return found[0] if found else None


def _read_split(path: Path) -> list[Mapping[str, Any]]:
    """The rows of one split file, read by :mod:`hf_ose.data`: a ``.txt`` file holds CoNLL columns or one
    sentence per line; every row must be an object of columns."""
    try:
        rows = read_rows(path)
        if path.suffix == ".txt":
            rows = (parse_conll(rows, path) if looks_like_conll(rows)
                    else [{"sentence": line.strip()} for line in rows if line.strip()])
    except DataError as error:
        raise TaskError(str(error)) from error
    bad = next((row for row in rows if not isinstance(row, Mapping)), None)
    if bad is not None:
        raise TaskError(f"{path} has a row that is not an object of columns ({str(bad)[:120]}): write one JSON "
                        "object per line, with the same keys on every line.")
    return rows


def _from_named(name: str, named: NamedTask, declared: Declared) -> Task:
    loaded = _load_dataset(named.dataset, named.config,
                           f"Cannot load {'GLUE ' if named.glue else ''}{name} through datasets ({{error}}). Offline, "
                           f"set {DATA_DIR_VARIABLE} to a folder holding {name}/ with its train, validation and test "
                           "files, or pass such a folder as the task.")
    if not named.glue:
        return _from_loaded(name, loaded, declared, f"{named.dataset} ({name})")
    parts = loaded["train"].train_test_split(test_size=0.1, seed=0)
    splits = {"train": parts["train"], "validation": parts["test"], "test": loaded["validation"]}
    return _build(name, {split: list(data) for split, data in splits.items()}, declared, f"GLUE {name}")


def _from_hub(spec: str, declared: Declared) -> Task:
    name, _, config = spec.partition(":")
    loaded = _load_dataset(name, config or None,
                           f"{spec!r} is neither a task folder, nor a named task ({', '.join(NAMED_TASKS)}), nor a "
                           "loadable datasets id ({error}). Pass a folder with train/validation/test files, or a "
                           "datasets id NAME[:CONFIG] when online.")
    return _from_loaded(name.rsplit("/", 1)[-1] + (f"-{config}" if config else ""), loaded, declared, spec)


def _load_dataset(name: str, config: str | None, message: str) -> datasets.DatasetDict:
    """``datasets.load_dataset(name, config)``; a failure becomes a :class:`TaskError` of ``message``, its
    ``{error}`` filled."""
    try:
        return datasets.load_dataset(name, config)
    except Exception as error:  # datasets raises many types for an unreachable or missing dataset
        raise TaskError(message.format(error=f"{type(error).__name__}: {error}")) from error


def _from_loaded(name: str, loaded: datasets.DatasetDict, declared: Declared, source: str) -> Task:
    """A task of a loaded ``DatasetDict``; class or tag names come from its ``ClassLabel`` features."""
    rows = {split: list(loaded[split]) if split in loaded else [] for split in SPLITS}
    kind = declared.kind or _detect_kind(rows["train"], source)
    missing = [split for split in SPLITS if split not in loaded and (split == "train" or kind != EMBEDDING)]
    if missing:
        raise TaskError(f"The dataset {source!r} has splits {sorted(loaded)} but no {', '.join(missing)}: a task needs "
                        f"labelled {', '.join(SPLITS)} splits; save the splits you want to a task folder instead.")
    features = loaded["train"].features
    for column in ("label", TOKEN_COLUMNS[1]):
        feature = features.get(column)
        feature = getattr(feature, "feature", feature)  # the ClassLabel inside a tag column's list
        if isinstance(feature, datasets.ClassLabel):
            declared = declared.over(Declared(label_names=tuple(feature.names)))
    return _build(name, rows, dataclasses.replace(declared, kind=kind), source)


# ---- rows to datasets -------------------------------------------------------------------------------------
def _detect_kind(rows: list[Mapping[str, Any]], source: str) -> str:
    """The kind the train rows' columns tell (see :func:`load_task`)."""
    if not rows:
        raise TaskError(f"The train split of {source} is empty: every task needs training rows.")
    first = rows[0]
    if all(column in first for column in TOKEN_COLUMNS):
        return TOKEN_CLASSIFICATION
    columns = _text_columns(first, "train", source)
    if "score" in first:
        return REGRESSION
    if "label" not in first:
        if columns == ("sentence",):
            return EMBEDDING
        raise TaskError(f"The train split of {source} has sentence pairs but no 'label' or 'score' column: add "
                        "classes in 'label' or similarity scores in 'score', or give an embedding task's unlabelled "
                        "text as single sentences in a 'sentence' column.")
    labels = [row.get("label") for row in rows if row.get("label") not in (None, "")]
    if labels and all(finite_number(label) is not None for label in labels) and not all(map(is_integer_label, labels)):
        return REGRESSION
    return CLASSIFICATION


def _build(name: str, rows: Mapping[str, list[Mapping[str, Any]]], declared: Declared, source: str) -> Task:
    kind = declared.kind or _detect_kind(rows["train"], source)
    if kind == EMBEDDING:
        return _embedding_task(name, rows, declared, source)
    for split in SPLITS:
        if not rows[split]:
            raise TaskError(f"The {split} split of {source} is empty: every split needs labelled rows.")
    if kind == TOKEN_CLASSIFICATION:
        return _token_task(name, rows, declared, source)
    columns = _text_columns(rows["train"][0], "train", source)
    for split in SPLITS[1:]:
        other = _text_columns(rows[split][0], split, source)
        if other != columns:
            raise TaskError(f"The {split} split of {source} has text columns {other} but train has {columns}: give "
                            "every split the same columns.")
    if kind == REGRESSION:
        scores = {split: _scores(rows[split], split, source, declared.score_range) for split in SPLITS}
        splits = [_dataset(rows[split], columns, scores[split], split, source, "float32") for split in SPLITS]
        return Task(name, *splits, text_columns=columns, label_names=(), kind=REGRESSION,
                    score_range=declared.score_range)
    raw = {split: [_label(row, split, source) for row in rows[split]] for split in SPLITS}
    label_names, ids = _label_ids(raw, declared.label_names, source)
    return Task(name, *(_dataset(rows[split], columns, ids[split], split, source, "int64") for split in SPLITS),
                text_columns=columns, label_names=label_names)


def find_text_columns(columns: Collection[str]) -> tuple[str, ...] | None:
    """The first of :data:`TEXT_COLUMNS` that ``columns`` hold (one sentence, or a pair), or None."""
    return next((text for text in TEXT_COLUMNS if all(column in columns for column in text)), None)


def _text_columns(row: Mapping[str, Any], split: str, source: str) -> tuple[str, ...]:
    columns = find_text_columns(row)
    if columns is not None:
        return columns
    raise TaskError(f"The {split} split of {source} has columns {sorted(row)} but neither 'sentence' nor "
                    "'sentence1' and 'sentence2': name the text column 'sentence' (single sentences) or "
                    "'sentence1'/'sentence2' (sentence pairs); token classification needs 'tokens' and 'ner_tags'.")


def _label(row: Mapping[str, Any], split: str, source: str) -> Any:
    label = row.get("label")
    if label is None or label == "" or label == -1:
        raise TaskError(f"A row of the {split} split of {source} has no label ({str(dict(row))[:120]}): every "
                        "split needs a 'label' column filled on every row (unlabelled test sets cannot be scored).")
    return label


def _label_ids(raw: Mapping[str, list[Any]], known_names: Sequence[str] | None,
               source: str) -> tuple[tuple[str, ...], dict[str, list[int]]]:
    """(label names, ids per split): integer labels kept as ids, named labels numbered in sorted order of the
    train split's names; a label outside the train split's set is refused."""
    train_set = set(map(str, raw["train"]))
    check_train_labels(train_set, {f"{split} split of {source}": map(str, raw[split]) for split in SPLITS[1:]})
    if all(is_integer_label(label) for labels in raw.values() for label in labels):
        ids = {split: [int(label) for label in labels] for split, labels in raw.items()}
        if min(min(values) for values in ids.values()) < 0:
            raise TaskError(f"{source} has negative integer labels: number the classes 0, 1, ...")
        count = max(ids["train"]) + 1
        names = tuple(known_names) if known_names is not None and len(known_names) >= count else None
        return names or tuple(str(index) for index in range(count)), ids
    names = tuple(sorted(train_set))
    if known_names is not None and set(known_names) == train_set:
        names = tuple(known_names)
    index = {name: position for position, name in enumerate(names)}
    return names, {split: [index[str(label)] for label in labels] for split, labels in raw.items()}


def check_train_labels(train: Iterable[Any], others: Mapping[str, Iterable[Any]], train_name: str = "train split",
                       error: type[Exception] = TaskError) -> None:
    """Refuse a split (``others``: its description, its labels) with a class the training labels ``train`` lack:
    the splits would be different tasks. Raises ``error``."""
    seen = set(train)
    for name, labels in others.items():
        unseen = sorted(set(labels) - seen)
        if unseen:
            raise error(f"The {name} has labels {unseen} that the {train_name} lacks ({train_name} labels: "
                        f"{sorted(seen)}): every split must use the {train_name}'s labels.")


def finite_number(value: Any) -> float | None:
    """``value`` as a finite float (a number, numpy's included, or a numeric string), or None."""
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, str)):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _scores(rows: list[Mapping[str, Any]], split: str, source: str,
            score_range: tuple[float, float] | None) -> list[float]:
    """The float score of every row (its ``score`` column, else ``label``), checked against ``score_range``."""
    scores = []
    for row in rows:
        column = "score" if "score" in row else "label"
        value = row.get(column)
        number = finite_number(value)
        if number is None:
            raise TaskError(
                f"A row of the {split} split of {source} has the {column} {value!r}, which is not a number "
                f"({str(dict(row))[:120]}): a regression or similarity score must be a finite number on every row "
                f"(class names make a classification task: declare \"kind\": \"classification\" in {TASK_FILE}).")
        scores.append(number)
    if score_range is not None:
        low, high = score_range
        outside = [score for score in scores if not low <= score <= high]
        if outside:
            raise TaskError(f"{len(outside)} score(s) of the {split} split of {source} lie outside the declared range "
                            f"[{low:g}, {high:g}] (e.g. {outside[0]:g}): fix those rows, or declare the range the "
                            f"scores use in {TASK_FILE} (\"score_range\": [low, high]).")
    return scores


def _dataset(rows: list[Mapping[str, Any]], columns: tuple[str, ...], labels: list[Any], split: str,
             source: str, label_type: str) -> datasets.Dataset:
    for row in rows:
        if any(row.get(column) is None for column in columns):
            raise TaskError(f"A row of the {split} split of {source} lacks text in {', '.join(columns)} "
                            f"({str(dict(row))[:120]}): fill every text column on every row.")
    data: dict[str, list[Any]] = {column: [str(row[column]) for row in rows] for column in columns}
    data["label"] = labels
    return datasets.Dataset.from_dict(data, features=datasets.Features(
        {**{column: datasets.Value("string") for column in columns}, "label": datasets.Value(label_type)}))


# ---- token classification ---------------------------------------------------------------------------------
def _token_task(name: str, rows: Mapping[str, list[Mapping[str, Any]]], declared: Declared, source: str) -> Task:
    sentences = {split: [_tagged(row, index, split, source) for index, row in enumerate(rows[split])]
                 for split in SPLITS}
    every = [tag for split in SPLITS for _, tags in sentences[split] for tag in tags]
    if all(isinstance(tag, int) and not isinstance(tag, bool) for tag in every):
        if declared.label_names is None:
            raise TaskError(f"The tags of {source} are ids with no names: name them by id in {TASK_FILE} "
                            "(\"label_names\": [\"O\", \"B-person\", \"I-person\", ...]), or write the tag names.")
        if not all(0 <= tag < len(declared.label_names) for tag in every):
            raise TaskError(f"The tags of {source} span ids {min(every)}..{max(every)} but {len(declared.label_names)} "
                            f"names are declared: declare one name per tag id.")
        sentences = {split: [(tokens, [declared.label_names[tag] for tag in tags]) for tokens, tags in tagged]
                     for split, tagged in sentences.items()}
    elif not all(isinstance(tag, str) for tag in every):
        raise TaskError(f"The tags of {source} mix names and ids: write every tag as a name (e.g. B-person).")
    for split in SPLITS:
        for index, (_, tags) in enumerate(sentences[split]):
            _check_iob2(tags, f"sentence {index} of the {split} split of {source}")
    names = declared.label_names or _tag_names(tag for split in SPLITS for _, tags in sentences[split] for tag in tags)
    _check_iob2([name for name in names if name.startswith("B-") or name == "O"], f"the tag names of {source}")
    index = {tag: position for position, tag in enumerate(names)}
    unknown = sorted({tag for tag in every if isinstance(tag, str)} - set(index))
    if unknown:
        raise TaskError(f"{source} has tags {unknown} that the declared label names {list(names)} lack: declare "
                        f"every tag in {TASK_FILE}'s label_names, or drop label_names to number them from the data.")
    features = datasets.Features({"tokens": datasets.List(datasets.Value("string")),
                                  "ner_tags": datasets.List(datasets.Value("int64"))})
    splits = [datasets.Dataset.from_dict({"tokens": [tokens for tokens, _ in sentences[split]],
                                          "ner_tags": [[index[tag] for tag in tags] for _, tags in sentences[split]]},
                                         features=features) for split in SPLITS]
    return Task(name, *splits, text_columns=("tokens",), label_names=tuple(names), kind=TOKEN_CLASSIFICATION)


def _tagged(row: Mapping[str, Any], index: int, split: str, source: str) -> tuple[list[str], list[Any]]:
    """(tokens, tags) of one sentence row, checked by :func:`check_tagged_sentence`."""
    tokens, tags = row.get(TOKEN_COLUMNS[0]), row.get(TOKEN_COLUMNS[1])
    check_tagged_sentence(tokens, tags, f"Sentence {index} of the {split} split of {source}")
    return tokens, tags


def check_tagged_sentence(tokens: Any, tags: Any, where: str, error: type[Exception] = TaskError) -> None:
    """Refuse a sentence that is not a non-empty list of tokens (non-empty strings) with a list of one tag per
    token; ``where`` begins the message (e.g. ``"Sentence 3 of the train split of wnut17"``). Raises ``error``."""
    if not isinstance(tokens, (list, tuple)) or not isinstance(tags, (list, tuple)):
        raise error(f"{where} lacks 'tokens' and 'ner_tags' lists (tokens {str(tokens)[:60]}, tags "
                    f"{str(tags)[:60]}): give every sentence a list of tokens and a list of tags.")
    if not tokens or len(tokens) != len(tags):
        raise error(f"{where} has {len(tokens)} tokens and {len(tags)} tags: give one tag per token (and at "
                    "least one token).")
    if not all(isinstance(token, str) and token.strip() for token in tokens):
        raise error(f"{where} has a token that is not a non-empty string ({list(tokens)[:10]}...): fix or drop it.")


def _check_iob2(tags: Sequence[str], where: str) -> None:
    """Refuse tags that are not IOB2: each ``O``, ``B-TYPE`` or ``I-TYPE``, an ``I-TYPE`` only after ``B-TYPE``
    or ``I-TYPE`` of the same type."""
    previous = "O"
    for position, tag in enumerate(tags):
        if tag != "O" and not (isinstance(tag, str) and ENTITY_TAG.match(tag)):
            raise TaskError(f"The tag {tag!r} at token {position} of {where} is not a BIO tag: tags must be O, "
                            "B-TYPE or I-TYPE (IOB2); rename other schemes' tags (e.g. BIOES S-/E-, or PER) to these.")
        if tag.startswith("I-") and previous[2:] != tag[2:]:
            raise TaskError(f"The tag {tag!r} at token {position} of {where} follows {previous!r}: in IOB2 an "
                            f"entity begins with B-{tag[2:]}. Convert the tags to IOB2 (an I- tag that begins an "
                            "entity becomes B-; IOB1 files need this), then load the task again.")
        previous = tag


def _tag_names(tags: Any) -> tuple[str, ...]:
    """``O``, then ``B-TYPE`` and ``I-TYPE`` for every type in sorted order."""
    types = sorted({tag[2:] for tag in tags if tag != "O"})
    return ("O", *(f"{prefix}-{kind}" for kind in types for prefix in ("B", "I")))


# ---- embedding --------------------------------------------------------------------------------------------
def _embedding_task(name: str, rows: Mapping[str, list[Mapping[str, Any]]], declared: Declared,
                    source: str) -> Task:
    train = rows["train"]
    if train and "sentence" in train[0]:
        sentences = [row.get("sentence") for row in train]
    elif train and all(column in train[0] for column in PAIR_COLUMNS):
        sentences = list(dict.fromkeys(row.get(column) for row in train for column in PAIR_COLUMNS))
    else:
        sentences = []
    texts = [text.strip() for text in sentences if isinstance(text, str) and text.strip()]
    if not texts or len(texts) != len(sentences):
        raise TaskError(f"The train split of {source} gives no text for an embedding task, or a row without text "
                        f"(columns: {sorted(train[0]) if train else 'none'}): give its unlabelled sentences in a "
                        "'sentence' column (or a .txt file, one sentence per line), every row filled.")
    splits = []
    for split in SPLITS[1:]:
        if rows[split] and not all(column in rows[split][0] for column in PAIR_COLUMNS):
            raise TaskError(f"The {split} split of {source} has columns {sorted(rows[split][0])}: an embedding task's "
                            "validation and test splits are similarity pairs, 'sentence1', 'sentence2' and 'score' "
                            "(or drop the files: the task is then scored by distillation alone).")
        scores = _scores(rows[split], split, source, declared.score_range)
        splits.append(_dataset(rows[split], PAIR_COLUMNS, scores, split, source, "float32"))
    if bool(len(splits[0])) != bool(len(splits[1])):
        raise TaskError(f"{source} has a similarity split for only one of validation and test: give both (model "
                        "selection reads validation, the final score test), or neither.")
    return Task(name, datasets.Dataset.from_dict({"sentence": texts}), *splits, text_columns=("sentence",),
                label_names=(), kind=EMBEDDING, score_range=declared.score_range)


# ---- tokenizing -------------------------------------------------------------------------------------------
def align_word_labels(word_ids: Sequence[int | None], word_tags: Sequence[int]) -> list[int]:
    """Per-token labels of one tokenized sentence: a word's first sub-word keeps the word's tag, its other
    sub-words and the special tokens (word id ``None``) get -100, which losses and metrics skip."""
    labels, previous = [], None
    for word in word_ids:
        labels.append(IGNORED_LABEL if word is None or word == previous else int(word_tags[word]))
        previous = word
    return labels


def tokenize_task(task: Task, tokenizer: PreTrainedTokenizerBase, max_length: int = 128) -> datasets.DatasetDict:
    """The task's splits as model inputs (unpadded, truncated at ``max_length`` tokens; a data collator pads)
    with ``labels``: class ids, float scores, or per-token tag ids aligned by :func:`align_word_labels`. An
    embedding task gives its train split's ``input_ids`` and ``attention_mask`` alone (its similarity pairs are
    scored by embedding each side)."""
    if task.kind == EMBEDDING:
        encoded = tokenizer(list(task.train["sentence"]), truncation=True, max_length=max_length)
        return datasets.DatasetDict({"train": datasets.Dataset.from_dict(
            {key: encoded[key] for key in ("input_ids", "attention_mask")})})
    if task.kind == TOKEN_CLASSIFICATION and not tokenizer.is_fast:
        raise TaskError(f"{type(tokenizer).__name__} is not a fast tokenizer, so its tokens cannot be mapped to "
                        "words: load the tokenizer with AutoTokenizer.from_pretrained(..., use_fast=True).")
    return datasets.DatasetDict({split: tokenize_split(task, getattr(task, split), tokenizer, max_length)
                                 for split in SPLITS})


def tokenize_split(task: Task, split: datasets.Dataset, tokenizer: PreTrainedTokenizerBase,
                   max_length: int = 128) -> datasets.Dataset:
    """One split of ``task`` (classification, regression or token classification) as :func:`tokenize_task`
    encodes it: unpadded model inputs and ``labels``."""
    if task.kind == TOKEN_CLASSIFICATION:
        try:
            encoded = tokenizer(list(split["tokens"]), is_split_into_words=True, truncation=True,
                                max_length=max_length)
        except (ValueError, AssertionError) as error:  # e.g. a BPE tokenizer without add_prefix_space
            raise TaskError(f"{type(tokenizer).__name__} cannot encode pre-split words ({error}): for GPT-2 and "
                            "RoBERTa tokenizers load it with add_prefix_space=True.") from error
        labels = [align_word_labels(encoded.word_ids(row), tags) for row, tags in enumerate(split["ner_tags"])]
    else:
        encoded = tokenizer(*(list(split[column]) for column in task.text_columns), truncation=True,
                            max_length=max_length)
        labels = list(split["label"])
    data = dict(encoded)
    data["labels"] = np.asarray(labels, dtype=np.float32) if task.kind == REGRESSION else labels
    return datasets.Dataset.from_dict(data)
