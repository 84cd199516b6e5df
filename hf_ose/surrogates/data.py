"""Text and labelled examples for the surrogates: from lists, files (txt/tsv/csv/jsonl) or datasets."""

from __future__ import annotations

import copy
import csv
import hashlib
import json
from pathlib import Path
from typing import Any, Iterable, Sequence

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from ..errors import HfOseError


class SurrogateDataError(HfOseError, ValueError):
    """The text or labelled data given to a surrogate is unusable."""


def load_texts(source: str | Path | Sequence[str] | Any, column: str = "sentence") -> list[str]:
    """Non-empty texts from a list, a ``datasets.Dataset`` column, a ``.txt`` file (one text per line) or a
    ``.tsv``/``.csv``/``.jsonl`` file (``column``)."""
    if isinstance(source, (str, Path)):
        rows = _read_rows(Path(source))
        texts = [row if isinstance(row, str) else _field(row, column, source) for row in rows]
    elif hasattr(source, "column_names"):
        if column not in source.column_names:
            raise SurrogateDataError(f"The dataset has no column {column!r}; its columns are {source.column_names}.")
        texts = list(source[column])
    else:
        texts = list(source)
    texts = [t.strip() for t in texts if isinstance(t, str) and t.strip()]
    if not texts:
        raise SurrogateDataError(f"No text found in {source!r}: pass non-empty sentences (column {column!r}).")
    return texts


def load_labelled(source: str | Path | Sequence[Any] | Any, text_column: str = "sentence",
                  label_column: str = "label") -> tuple[list[str], list[int]]:
    """(texts, integer labels) from a file, a dataset or a list of dicts / (text, label) pairs. Integer-like
    labels are kept; named labels are numbered in sorted order (see :func:`load_labelled_splits`)."""
    return load_labelled_splits([source], text_column, label_column)[0]


def load_labelled_splits(sources: Sequence[Any], text_column: str = "sentence",
                         label_column: str = "label") -> list[tuple[list[str], list[int]]]:
    """:func:`load_labelled` for several splits of one task with one numbering of named labels across them,
    so a development split that lacks a class still gets the training split's numbers."""
    splits = [_read_labelled(source, text_column, label_column) for source in sources]
    every = [label for _, labels in splits for label in labels]
    if all(str(label).lstrip("-").isdigit() for label in every):
        return [(texts, [int(label) for label in labels]) for texts, labels in splits]
    names = sorted({str(label) for label in every})
    return [(texts, [names.index(str(label)) for label in labels]) for texts, labels in splits]


def _read_labelled(source: Any, text_column: str, label_column: str) -> tuple[list[str], list[Any]]:
    if isinstance(source, (str, Path)):
        rows = _read_rows(Path(source))
    elif hasattr(source, "column_names"):
        missing = {text_column, label_column} - set(source.column_names)
        if missing:
            raise SurrogateDataError(f"The dataset lacks column(s) {sorted(missing)}; it has {source.column_names}.")
        rows = list(source)
    else:
        rows = list(source)
    texts, labels = [], []
    for row in rows:
        if isinstance(row, (tuple, list)) and len(row) == 2:
            text, label = row
        elif isinstance(row, dict):
            text, label = row.get(text_column), row.get(label_column)
        else:
            text, label = row, None
        if label is None or label == "":
            raise SurrogateDataError(
                f"Labels are missing (no {label_column!r} in {str(row)[:80]!r}): the task surrogate needs labelled "
                "examples; use the distillation surrogate for unlabelled text."
            )
        texts.append(str(text))
        labels.append(label)
    if not texts:
        raise SurrogateDataError(f"No labelled examples in {source!r}.")
    return texts, labels


def padding_tokenizer(tokenizer: PreTrainedTokenizerBase) -> PreTrainedTokenizerBase:
    """``tokenizer`` itself when it can pad; otherwise (GPT-2, Llama) a copy that pads with its end-of-sequence
    token, leaving the caller's tokenizer untouched. Surrogates pad their batches."""
    if tokenizer.pad_token is not None:
        return tokenizer
    if tokenizer.eos_token is None:
        raise SurrogateDataError(
            f"{type(tokenizer).__name__} has neither a padding nor an end-of-sequence token, and the surrogates pad "
            "their batches: set tokenizer.pad_token (e.g. tokenizer.add_special_tokens({'pad_token': '[PAD]'}) "
            "with a matching embedding row) and pass the tokenizer."
        )
    tokenizer = copy.deepcopy(tokenizer)
    tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def tokenize(tokenizer: PreTrainedTokenizerBase, texts: Sequence[str], max_length: int) -> dict[str, torch.Tensor]:
    encoded = tokenizer(list(texts), padding=True, truncation=True, max_length=max_length, return_tensors="pt")
    return {k: v for k, v in encoded.items() if k in ("input_ids", "attention_mask", "token_type_ids")}


def digest_texts(texts: Iterable[str]) -> str:
    hasher = hashlib.sha256()
    for text in texts:
        hasher.update(text.encode())
        hasher.update(b"\0")
    return hasher.hexdigest()


def digest_weights(model: PreTrainedModel) -> str:
    """A digest of the model's class and weights: surrogate results depend on both."""
    hasher = hashlib.sha256(type(model).__name__.encode())
    for name, tensor in sorted(model.state_dict().items()):
        hasher.update(name.encode())
        hasher.update(tensor.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
    return hasher.hexdigest()


def _read_rows(path: Path) -> list[Any]:
    if not path.is_file():
        raise SurrogateDataError(f"{path} is not a file: pass a .txt, .tsv, .csv or .jsonl file, or a list of texts.")
    if path.suffix in (".tsv", ".csv"):
        with path.open(newline="", encoding="utf-8") as handle:
            return list(csv.DictReader(handle, delimiter="\t" if path.suffix == ".tsv" else ","))
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return path.read_text(encoding="utf-8").splitlines()


def _field(row: dict, column: str, source: Any) -> str:
    if column not in row:
        raise SurrogateDataError(f"{source} has no column {column!r}; its columns are {sorted(row)}.")
    return row[column]
