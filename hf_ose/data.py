"""The data layer: texts and labelled rows from lists, files (txt/tsv/csv/jsonl, CoNLL columns) or datasets;
tokenizing with padding; digests of texts, tokenizers and weights for caches. Every part of hf-ose that reads data uses it."""

from __future__ import annotations

import copy
import csv
import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from .exceptions import HfOseError
from .torch_context import Batch

__all__ = [
    "DataError", "digest_texts", "digest_tokenizer", "digest_weights", "is_integer_label", "load_labelled", "load_labelled_splits",
    "load_texts", "looks_like_conll", "padding_tokenizer", "parse_conll", "read_rows", "tokenize",
]

#: What the loaders read: a path to a .txt/.tsv/.csv/.jsonl file, a ``datasets.Dataset``, or a list.
Source = Any

_ACCEPTED = "a path to a .txt, .tsv, .csv or .jsonl file, a datasets.Dataset, or a list"
_TEXT_OPTION = "text_column= (--text-column on the command line)"
_LABEL_OPTION = "label_column= (--label-column on the command line)"
_COLUMN_OPTION = "column= (--text-column on the command line)"
#: A tag in the last column of a CoNLL line: O, or B-/I- and an entity type.
_CONLL_TAG = re.compile(r"^(O|[BI]-\S+)$")
#: The first line of each document in CoNLL-2003 files, not a token.
_DOCSTART = "-DOCSTART-"


class DataError(HfOseError, ValueError):
    """A data file, text, labelled rows or a tokenizer that cannot be used; the message names the fix (the accepted
    inputs, or the option naming a missing column)."""


def load_texts(source: Source, column: str = "sentence") -> list[str]:
    """Non-empty, stripped texts from a list of strings, a ``datasets.Dataset`` column, a ``.txt`` file (one text
    per line) or a ``.tsv``/``.csv``/``.jsonl`` file (``column``). A value that is a list of words (e.g. the
    ``tokens`` of a JSON-lines NER file) is joined with spaces."""
    if isinstance(source, (str, Path)):
        texts = [row if isinstance(row, str) else _text_field(row, column, source) for row in read_rows(source)]
    elif _is_dataset(source):
        if column not in source.column_names:
            raise DataError(
                f"The dataset has no column {column!r}; its columns are {source.column_names}. Name the text "
                f"column with {_COLUMN_OPTION}."
            )
        texts = list(source[column])
    elif isinstance(source, Iterable) and not isinstance(source, (bytes, Mapping)):
        texts = list(source)
    else:
        raise DataError(f"Cannot read texts from a value of type {type(source).__name__}: pass {_ACCEPTED} of strings.")
    texts = [" ".join(text) if _is_words(text) else text for text in texts]
    for text in texts:
        if text is not None and not isinstance(text, str):
            raise DataError(
                f"Texts must be strings, but {source if isinstance(source, (str, Path)) else 'the input'} holds a value "
                f"of type {type(text).__name__} ({repr(text)[:80]}): pass strings (labelled rows go to load_labelled)."
            )
    texts = [text.strip() for text in texts if text and text.strip()]
    if not texts:
        raise DataError(f"No text found in {str(source)[:120]!r}: pass non-empty sentences (column {column!r}).")
    return texts


def load_labelled(source: Source, text_column: str = "sentence",
                  label_column: str = "label") -> tuple[list[str], list[int]]:
    """(texts, integer labels) from a file, a dataset or a list of dicts / (text, label) pairs. Integer-like
    labels are kept; named labels are numbered in sorted order (see :func:`load_labelled_splits`)."""
    return load_labelled_splits([source], text_column, label_column)[0]


def load_labelled_splits(sources: Sequence[Source], text_column: str = "sentence",
                         label_column: str = "label") -> list[tuple[list[str], list[int]]]:
    """:func:`load_labelled` for several splits of one task with one numbering of named labels across them,
    so a development split that lacks a class still gets the training split's numbers."""
    splits = [_read_labelled(source, text_column, label_column) for source in sources]
    every = [label for _, labels in splits for label in labels]
    if all(is_integer_label(label) for label in every):
        return [(texts, [int(label) for label in labels]) for texts, labels in splits]
    names = sorted({str(label) for label in every})
    return [(texts, [names.index(str(label)) for label in labels]) for texts, labels in splits]


def is_integer_label(label: Any) -> bool:
    """Whether ``label`` is a class id (an int, or a string of one such as ``"1"``) rather than a class name."""
    if isinstance(label, bool):
        return False
    return isinstance(label, int) or (isinstance(label, str) and label.strip().lstrip("-").isdigit())


def padding_tokenizer(tokenizer: PreTrainedTokenizerBase) -> PreTrainedTokenizerBase:
    """``tokenizer`` itself when it can pad; otherwise (GPT-2, Llama) a copy that pads with its end-of-sequence
    token, leaving the caller's tokenizer untouched."""
    if tokenizer.pad_token is not None:
        return tokenizer
    if tokenizer.eos_token is None:
        raise DataError(
            f"{type(tokenizer).__name__} has neither a padding nor an end-of-sequence token, and hf-ose pads its "
            "batches: set tokenizer.pad_token (e.g. tokenizer.add_special_tokens({'pad_token': '[PAD]'}) with a "
            "matching embedding row) and pass the tokenizer."
        )
    tokenizer = copy.deepcopy(tokenizer)
    tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def tokenize(tokenizer: PreTrainedTokenizerBase, texts: Sequence[str], max_length: int) -> Batch:
    """One padded, truncated batch of ``texts`` with the inputs an encoder or decoder takes."""
    encoded = tokenizer(list(texts), padding=True, truncation=True, max_length=max_length, return_tensors="pt")
    return {k: v for k, v in encoded.items() if k in ("input_ids", "attention_mask", "token_type_ids")}


def digest_texts(texts: Iterable[str]) -> str:
    """A SHA-256 digest of the texts in order."""
    hasher = hashlib.sha256()
    for text in texts:
        hasher.update(text.encode())
        hasher.update(b"\0")
    return hasher.hexdigest()


def digest_tokenizer(tokenizer: PreTrainedTokenizerBase) -> str:
    """A SHA-256 digest of what decides how a tokenizer encodes: its class, its full backend definition
    (vocabulary, normaliser, pre-tokeniser; the vocabulary alone where there is no backend), its special tokens
    and its padding and truncation sides."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    definition = backend.to_str() if backend is not None else json.dumps(sorted(tokenizer.get_vocab().items()))
    hasher = hashlib.sha256(type(tokenizer).__name__.encode())
    hasher.update(definition.encode())
    hasher.update(json.dumps([tokenizer.special_tokens_map, tokenizer.padding_side, tokenizer.truncation_side],
                             sort_keys=True, default=str).encode())
    return hasher.hexdigest()


def digest_weights(model: PreTrainedModel) -> str:
    """A SHA-256 digest of the model's class and weights."""
    hasher = hashlib.sha256(type(model).__name__.encode())
    for name, tensor in sorted(model.state_dict().items()):
        hasher.update(name.encode())
        hasher.update(tensor.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
    return hasher.hexdigest()


def _is_dataset(source: Any) -> bool:
    return hasattr(source, "column_names") and not isinstance(source, (str, Path))


def _read_labelled(source: Source, text_column: str, label_column: str) -> tuple[list[str], list[Any]]:
    if isinstance(source, (str, Path)):
        rows = read_rows(source)
    elif _is_dataset(source):
        missing = {text_column, label_column} - set(source.column_names)
        if missing:
            raise DataError(
                f"The dataset lacks column(s) {sorted(missing)}; it has {source.column_names}. Name the columns with "
                f"{_TEXT_OPTION} and {_LABEL_OPTION}."
            )
        rows = list(source)
    elif isinstance(source, Iterable) and not isinstance(source, (bytes, Mapping)):
        rows = list(source)
    else:
        raise DataError(f"Cannot read labelled rows from a value of type {type(source).__name__}: pass {_ACCEPTED} "
                        "of dicts or (text, label) pairs.")
    texts, labels = [], []
    for row in rows:
        text, label = _labelled_row(row, text_column, label_column)
        texts.append(text)
        labels.append(label)
    if not texts:
        raise DataError(f"No labelled examples in {str(source)[:120]!r}.")
    return texts, labels


def _labelled_row(row: Any, text_column: str, label_column: str) -> tuple[str, Any]:
    """(text, label) of one row: a (text, label) pair or a dict with both columns."""
    if isinstance(row, (tuple, list)) and len(row) == 2:
        text, label = row
    elif isinstance(row, Mapping):
        text, label = row.get(text_column), row.get(label_column)
    else:
        text, label = row, None
    if label is None or label == "":
        raise DataError(
            f"Labels are missing (no {label_column!r} in {str(row)[:80]!r}; name the label column with "
            f"{_LABEL_OPTION}): labelled examples are needed here; use the distillation surrogate for unlabelled text."
        )
    if text is None:
        raise DataError(f"No text column {text_column!r} in {str(row)[:80]!r}: name it with {_TEXT_OPTION}.")
    return str(text), label


def read_rows(path: str | Path) -> list[Any]:
    """The rows of a data file: a dict per row of a ``.tsv`` (read unquoted, as GLUE writes it: a sentence may
    begin with '"'), ``.csv`` or ``.jsonl`` file (a JSON value per line), a sentence dict per sentence of a
    ``.conll`` file (:func:`parse_conll`), a string per line of any other file.
    Every part of hf-ose that reads a data file reads it here; :class:`DataError` names the fix."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path} is not a file: pass {_ACCEPTED}.")
    if path.suffix in (".tsv", ".csv"):
        with path.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE) if path.suffix == ".tsv"
                        else csv.DictReader(handle))
        bad = next((row for row in rows if None in row or None in row.values()), None)
        if bad is not None:
            raise DataError(f"{path} has a malformed row ({str(bad)[:120]}): every row needs the header's columns, "
                            "no more, no less.")
        return rows
    if path.suffix == ".conll":
        return parse_conll(path.read_text(encoding="utf-8").splitlines(), path)
    if path.suffix == ".jsonl":
        lines = path.read_text(encoding="utf-8").splitlines()
        try:
            return [json.loads(line) for line in lines if line.strip()]
        except json.JSONDecodeError as error:
            raise DataError(f"{path} is not JSON Lines ({error.msg}): write one JSON object per line.") from error
    return path.read_text(encoding="utf-8").splitlines()


def looks_like_conll(lines: Sequence[str]) -> bool:
    """Whether every non-blank line of a text file is ``token ... tag`` with a B-/I-/O tag last (CoNLL columns)
    rather than a sentence."""
    rows = [line.split() for line in lines if line.strip() and not line.startswith(_DOCSTART)]
    return bool(rows) and all(len(row) >= 2 and _CONLL_TAG.match(row[-1]) for row in rows)


def parse_conll(lines: Sequence[str], source: str | Path) -> list[dict[str, list[str]]]:
    """Sentences of CoNLL column lines as ``{"tokens": [...], "ner_tags": [...]}`` rows: one ``token<TAB or
    space>tag`` line per token (the first column is the token, the last the tag, as in CoNLL-2003's four
    columns), a blank line between sentences, ``-DOCSTART-`` lines skipped."""
    sentences: list[dict[str, list[str]]] = []
    tokens: list[str] = []
    tags: list[str] = []
    for number, line in enumerate([*lines, ""], start=1):
        fields = line.split()
        if not fields or fields[0] == _DOCSTART:
            if tokens:
                sentences.append({"tokens": tokens, "ner_tags": tags})
            tokens, tags = [], []
            continue
        if len(fields) < 2:
            raise DataError(f"Line {number} of {source} ({line.strip()[:80]!r}) has no tag: write one "
                            "'token<TAB>tag' line per token and a blank line between sentences.")
        tokens.append(fields[0])
        tags.append(fields[-1])
    return sentences


def _is_words(value: Any) -> bool:
    """A non-empty list of strings: a sentence given as words (e.g. the ``tokens`` of a JSON-lines NER file)."""
    return isinstance(value, list) and bool(value) and all(isinstance(word, str) for word in value)


def _text_field(row: Mapping[str, Any], column: str, source: Any) -> Any:
    if not isinstance(row, Mapping):
        raise DataError(f"{source} holds a value of type {type(row).__name__} where a row with a column {column!r} "
                        "was expected: write one JSON object per line.")
    if column not in row:
        raise DataError(
            f"{source} has no column {column!r}; its columns are {sorted(row)}. Name the text column with "
            f"{_COLUMN_OPTION}."
        )
    return row[column]
