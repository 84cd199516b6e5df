"""What the Agora tests share: real SST-2 rows (and, from ../shared/data, WNUT-17 sentences and STS-B pairs), tiny
BERT students on the parent's vocabulary, a labeller and a recording sampler whose outputs the tests can
recompute."""

from __future__ import annotations

import csv
import json
import zlib
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pytest
import torch
from transformers import BertConfig, BertForSequenceClassification, BertForTokenClassification

from hf_ose.agora import Labeller, Point, Sampler

SST2 = Path(__file__).resolve().parent / "data" / "sst2"
#: The real data sets shared by the project's worktrees (``../shared/data`` from the project root).
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
#: WNUT-17's tags, O first (the id order the tests use).
WNUT_TAGS = ("O", *(f"{p}-{t}" for t in ("corporation", "creative-work", "group", "location", "person", "product")
                    for p in "BI"))


def shared_file(relative: str) -> Path:
    """A file of ``../shared/data``, or a skip naming it when that folder is absent."""
    path = SHARED_DATA / relative
    if not path.is_file():
        pytest.skip(f"{path} is absent: these tests read the real data in ../shared/data")
    return path


def wnut_rows(split: str, count: int) -> list[dict[str, Any]]:
    """The first ``count`` WNUT-17 sentences of ``split``: ``tokens`` and ``ner_tags`` as tag names."""
    with open(shared_file(f"wnut17/{split}.jsonl"), encoding="utf-8") as handle:
        return [json.loads(line) for _, line in zip(range(count), handle)]


def stsb_rows(split: str, count: int) -> list[dict[str, Any]]:
    """The first ``count`` STS-B pairs of ``split``: ``sentence1``, ``sentence2`` and the float ``label`` (0-5)."""
    with open(shared_file(f"stsb/{split}.tsv"), newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))[:count]
    return [{"sentence1": r["sentence1"], "sentence2": r["sentence2"], "label": float(r["score"])} for r in rows]


def sst2_rows(split: str, count: int, start: int = 0) -> list[dict[str, Any]]:
    """``count`` rows of the SST-2 sample's ``split`` from row ``start``: ``sentence`` and integer ``label``."""
    with open(SST2 / f"{split}.tsv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))[start:start + count]
    return [{"sentence": row["sentence"], "label": int(row["label"])} for row in rows]


def tiny_student(vocab_size: int, seed: int = 0, num_labels: int = 2, **config: Any) -> BertForSequenceClassification:
    """A 2-layer, width-32 BERT classifier: fast enough for many fine-tunings on 2 cores."""
    torch.manual_seed(seed)
    shape = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64)
    return BertForSequenceClassification(BertConfig(vocab_size=vocab_size, num_labels=num_labels,
                                                    **{**shape, **config}))


def tiny_tagger(vocab_size: int, seed: int = 0, tags: Sequence[str] = WNUT_TAGS) -> BertForTokenClassification:
    """The tiny BERT of :func:`tiny_student` with a token-classification head over ``tags``."""
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, id2label=dict(enumerate(tags)),
                        label2id={t: i for i, t in enumerate(tags)})
    return BertForTokenClassification(config)


class HashLabeller(Labeller):
    """Two classes; P(class 1) is a fixed function of the text in [0.05, 0.95], so confidences vary."""

    num_labels = 2

    def __init__(self, label_names: tuple[str, ...] | None = None) -> None:
        self._names = label_names

    @property
    def label_names(self) -> tuple[str, ...] | None:
        return self._names

    def probabilities(self, points: Sequence[Point]) -> np.ndarray:
        positive = np.array([0.05 + 0.9 * (zlib.crc32(repr(p).encode()) % 1000) / 999 for p in points])
        return np.stack([1.0 - positive, positive], axis=1)


class RecordingSampler(Sampler):
    """Two new points per input (a word appended, a word prepended; on a pair, one side only); records calls."""

    name = "recording"

    def __init__(self) -> None:
        self.calls: list[list[Point]] = []

    def sample(self, points: Sequence[Point], per_point: int, *, tokenizer: Any, max_length: int,
               seed: int) -> list[list[Point]]:
        self.calls.append(list(points))
        return [[_edit(p, f" really{seed}"), _edit(p, "", f"so{seed} ")][:per_point] for p in points]


def _edit(point: Point, suffix: str, prefix: str = "") -> Point:
    if isinstance(point, tuple):
        return (point[0], prefix + point[1] + suffix)
    return prefix + point + suffix
