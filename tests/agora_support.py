"""What the Agora tests share: real SST-2 rows, a tiny BERT student on the parent's vocabulary, a labeller and a
recording sampler whose outputs the tests can recompute."""

from __future__ import annotations

import csv
import zlib
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from transformers import BertConfig, BertForSequenceClassification

from hf_ose.agora import Labeller, Point, Sampler

SST2 = Path(__file__).resolve().parent / "data" / "sst2"


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
