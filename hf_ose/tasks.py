"""Labelled classification tasks with train, validation and test splits: from a folder of files, from GLUE's
SST-2 and RTE, or from a ``datasets`` id. What ``hf-ose finetune`` and :class:`~hf_ose.agora.AgoraTrainer`
runs read their data from. Files are read by :func:`hf_ose.data.read_rows`; :class:`TaskError` is a
:class:`~hf_ose.data.DataError`."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import datasets

from .data import DataError, is_integer_label, read_rows

__all__ = ["SPLITS", "TEXT_COLUMNS", "Task", "TaskError", "load_task"]

#: The splits every task has, in order.
SPLITS: tuple[str, ...] = ("train", "validation", "test")
#: The file types a task folder may hold, one file per split.
EXTENSIONS: tuple[str, ...] = (".tsv", ".csv", ".jsonl")
#: The class names of the GLUE tasks, by id (GLUE's own order).
GLUE_LABEL_NAMES: dict[str, tuple[str, ...]] = {
    "sst2": ("negative", "positive"),
    "rte": ("entailment", "not_entailment"),
}
#: The environment variable naming a folder that holds ``sst2/`` and ``rte/`` task folders.
DATA_DIR_VARIABLE = "HF_OSE_DATA_DIR"
#: The text columns a task's rows may have, in the order they are looked for: one sentence, or a sentence pair.
TEXT_COLUMNS: tuple[tuple[str, ...], ...] = (("sentence",), ("sentence1", "sentence2"))


class TaskError(DataError):
    """A task that cannot be read or used as given; the message names the problem and the fix."""


@dataclass(frozen=True)
class Task:
    """A labelled classification task: three ``datasets.Dataset`` splits with the text columns and an integer
    ``label`` column (ids into ``label_names``). The test split is for the final, honest score only."""

    name: str
    train: datasets.Dataset
    validation: datasets.Dataset
    test: datasets.Dataset
    text_columns: tuple[str, ...]
    label_names: tuple[str, ...]

    @property
    def num_labels(self) -> int:
        return len(self.label_names)

    @property
    def id2label(self) -> dict[int, str]:
        return dict(enumerate(self.label_names))

    @property
    def label2id(self) -> dict[str, int]:
        return {name: index for index, name in enumerate(self.label_names)}

    def subsample(self, train: int | None = None, validation: int | None = None, test: int | None = None,
                  seed: int = 0) -> Task:
        """The task with at most ``train``/``validation``/``test`` rows per split (``None``: all), drawn at
        random under ``seed``."""
        def draw(split: datasets.Dataset, rows: int | None) -> datasets.Dataset:
            if rows is None or rows >= len(split):
                return split
            if rows < 1:
                raise TaskError(f"Cannot keep {rows} rows of a split: keep at least 1 (or None for all).")
            return split.shuffle(seed=seed).select(range(rows))

        return dataclasses.replace(self, train=draw(self.train, train), validation=draw(self.validation, validation),
                                   test=draw(self.test, test))

    def without_validation_rows_in_test(self) -> tuple[Task, int]:
        """The task with every test row whose text also appears in the validation split left out, and how many
        were. Agora reads the validation split (AgoraTrainer refuses an overlapping test set), so such rows would
        not score honestly; GLUE's RTE repeats one pair across the two."""
        seen = set(zip(*(self.validation[column] for column in self.text_columns)))
        texts = zip(*(self.test[column] for column in self.text_columns))
        kept = [index for index, text in enumerate(texts) if text not in seen]
        if len(kept) == len(self.test):
            return self, 0
        return dataclasses.replace(self, test=self.test.select(kept)), len(self.test) - len(kept)

    def describe(self) -> str:
        """One line: name, split sizes, text columns and classes."""
        sizes = " / ".join(f"{len(getattr(self, split))}" for split in SPLITS)
        return (f"{self.name}: {sizes} rows (train / validation / test), text {', '.join(self.text_columns)}, "
                f"labels {', '.join(self.label_names)}")


def load_task(spec: str | Path) -> Task:
    """The task ``spec`` names:

    - a folder holding ``train``, ``validation`` and ``test`` files (``.tsv``, ``.csv`` or ``.jsonl``) with a
      ``sentence`` column, or ``sentence1`` and ``sentence2``, and a ``label`` column (integers or names);
    - ``sst2`` or ``rte``: the folder ``$HF_OSE_DATA_DIR/<name>`` when that variable is set; otherwise GLUE
      through ``datasets``, where GLUE's validation split is the test split (GLUE's test labels are hidden) and
      train/validation are a fixed 90/10 split of GLUE's train split (seed 0);
    - a ``datasets`` id ``NAME[:CONFIG]`` with labelled train, validation and test splits.

    Named labels get ids in sorted order of the train split's names; integer labels are kept as ids. Every
    split's labels must occur in the train split.
    """
    text = str(spec)
    if Path(spec).is_dir():
        return _from_folder(Path(spec))
    if text in GLUE_LABEL_NAMES:
        folder = os.environ.get(DATA_DIR_VARIABLE)
        if folder:
            if not (Path(folder) / text).is_dir():
                raise TaskError(f"{DATA_DIR_VARIABLE}={folder} has no folder {text!r}: put the {text} train, "
                                f"validation and test files in {Path(folder) / text}, or unset {DATA_DIR_VARIABLE} "
                                "to load GLUE through datasets.")
            return _from_folder(Path(folder) / text, name=text, label_names=GLUE_LABEL_NAMES[text])
        return _from_glue(text)
    return _from_hub(text)


# ---- sources ----------------------------------------------------------------------------------------------
def _from_folder(folder: Path, name: str | None = None, label_names: Sequence[str] | None = None) -> Task:
    rows = {split: _read_split(_split_file(folder, split)) for split in SPLITS}
    return _build(name or folder.name, rows, known_names=label_names, source=str(folder))


def _split_file(folder: Path, split: str) -> Path:
    found = [folder / f"{split}{extension}" for extension in EXTENSIONS if (folder / f"{split}{extension}").is_file()]
    accepted = ", ".join(f"{split}{extension}" for extension in EXTENSIONS)
    if not found:
        raise TaskError(f"The task folder {folder} has no {split} file: add one of {accepted} (a task folder holds "
                        f"one file per split: {', '.join(SPLITS)}).")
    if len(found) > 1:
        raise TaskError(f"The task folder {folder} has several {split} files ({', '.join(p.name for p in found)}): "
                        "keep exactly one per split.")
    return found[0]


def _read_split(path: Path) -> list[Mapping[str, Any]]:
    """The rows of one split file, read by :func:`hf_ose.data.read_rows`; each must be an object of columns."""
    try:
        rows = read_rows(path)
    except DataError as error:
        raise TaskError(str(error)) from error
    bad = next((row for row in rows if not isinstance(row, Mapping)), None)
    if bad is not None:
        raise TaskError(f"{path} has a row that is not an object of columns ({str(bad)[:120]}): write one JSON "
                        "object per line, with the same keys on every line.")
    return rows


def _from_glue(name: str) -> Task:
    try:
        glue = datasets.load_dataset("nyu-mll/glue", name)
    except Exception as error:  # datasets raises many types for an unreachable or missing dataset
        raise TaskError(
            f"Cannot load GLUE {name} through datasets ({type(error).__name__}: {error}). Offline, set "
            f"{DATA_DIR_VARIABLE} to a folder holding {name}/train.tsv, validation.tsv and test.tsv, or pass such "
            "a folder as the task."
        ) from error
    parts = glue["train"].train_test_split(test_size=0.1, seed=0)
    splits = {"train": parts["train"], "validation": parts["test"], "test": glue["validation"]}
    return _build(name, {split: list(data) for split, data in splits.items()},
                  known_names=GLUE_LABEL_NAMES[name], source=f"GLUE {name}")


def _from_hub(spec: str) -> Task:
    name, _, config = spec.partition(":")
    try:
        loaded = datasets.load_dataset(name, config or None)
    except Exception as error:  # datasets raises many types for an unreachable or missing dataset
        raise TaskError(
            f"{spec!r} is neither a task folder, nor sst2/rte, nor a loadable datasets id ({type(error).__name__}: "
            f"{error}). Pass a folder with train/validation/test files, or a datasets id NAME[:CONFIG] when online."
        ) from error
    missing = [split for split in SPLITS if split not in loaded]
    if missing:
        raise TaskError(f"The dataset {spec!r} has splits {sorted(loaded)} but no {', '.join(missing)}: a task needs "
                        f"labelled {', '.join(SPLITS)} splits; save the splits you want to a task folder instead.")
    feature = loaded["train"].features.get("label")
    names = tuple(feature.names) if isinstance(feature, datasets.ClassLabel) else None
    return _build(name.rsplit("/", 1)[-1] + (f"-{config}" if config else ""),
                  {split: list(loaded[split]) for split in SPLITS}, known_names=names, source=spec)


# ---- rows to datasets -------------------------------------------------------------------------------------
def _build(name: str, rows: Mapping[str, list[Mapping[str, Any]]], known_names: Sequence[str] | None,
           source: str) -> Task:
    for split in SPLITS:
        if not rows[split]:
            raise TaskError(f"The {split} split of {source} is empty: every split needs labelled rows.")
    columns = _text_columns(rows["train"][0], "train", source)
    for split in SPLITS[1:]:
        other = _text_columns(rows[split][0], split, source)
        if other != columns:
            raise TaskError(f"The {split} split of {source} has text columns {other} but train has {columns}: give "
                            "every split the same columns.")
    raw = {split: [_label(row, split, source) for row in rows[split]] for split in SPLITS}
    label_names, ids = _label_ids(raw, known_names, source)
    return Task(
        name=name,
        train=_dataset(rows["train"], columns, ids["train"], "train", source),
        validation=_dataset(rows["validation"], columns, ids["validation"], "validation", source),
        test=_dataset(rows["test"], columns, ids["test"], "test", source),
        text_columns=columns,
        label_names=label_names,
    )


def _text_columns(row: Mapping[str, Any], split: str, source: str) -> tuple[str, ...]:
    for columns in TEXT_COLUMNS:
        if all(column in row for column in columns):
            return columns
    raise TaskError(f"The {split} split of {source} has columns {sorted(row)} but neither 'sentence' nor "
                    "'sentence1' and 'sentence2': name the text column 'sentence' (single sentences) or "
                    "'sentence1'/'sentence2' (sentence pairs).")


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
    for split in SPLITS[1:]:
        unseen = sorted(set(map(str, raw[split])) - train_set)
        if unseen:
            raise TaskError(f"The {split} split of {source} has labels {unseen} that the train split lacks (train "
                            f"has {sorted(train_set)}): every split must use the train split's labels.")
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


def _dataset(rows: list[Mapping[str, Any]], columns: tuple[str, ...], labels: list[int], split: str,
             source: str) -> datasets.Dataset:
    for row in rows:
        if any(row.get(column) is None for column in columns):
            raise TaskError(f"A row of the {split} split of {source} lacks text in {', '.join(columns)} "
                            f"({str(dict(row))[:120]}): fill every text column on every row.")
    data: dict[str, list[Any]] = {column: [str(row[column]) for row in rows] for column in columns}
    data["label"] = labels
    return datasets.Dataset.from_dict(data, features=datasets.Features(
        {**{column: datasets.Value("string") for column in columns}, "label": datasets.Value("int64")}))
