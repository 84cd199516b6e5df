"""Sentence-pair models (RTE): calibration and parity text given as pairs is encoded as pairs, both sides with
their segment ids, by the parity check and by each int8 backend's calibration."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from hf_ose.export import ExportError, export, get_export_backend
from hf_ose.export.texts import clean_texts, tokenize
from .testing_utils import slow

RTE = Path(__file__).with_name("data") / "rte" / "validation.tsv"


def rte_pairs(rows: int) -> list[tuple[str, str]]:
    with RTE.open(newline="") as handle:
        reader = csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        return [(row["sentence1"], row["sentence2"]) for row, _ in zip(reader, range(rows))]


def test_pairs_are_tokenised_as_pairs_and_cleaned_like_sentences(minilm_path):
    tokenizer = AutoTokenizer.from_pretrained(minilm_path)
    encoded = tokenize(tokenizer, [("A man sleeps.", "Someone rests."), ("Short.", "A longer second side.")],
                       padding=True)
    assert encoded["input_ids"] == tokenizer(["A man sleeps.", "Short."], ["Someone rests.", "A longer second side."],
                                             padding=True)["input_ids"]
    assert all(1 in segments for segments in encoded["token_type_ids"])  # the second side is segment 1
    assert clean_texts([(" a ", "b "), ("c", "  "), ["d", "e"]]) == [("a", "b"), ("d", "e")]
    with pytest.raises(ExportError, match="mixes single sentences and sentence pairs"):
        clean_texts(["a sentence", ("a", "pair")])
    with pytest.raises(ExportError, match="neither a sentence nor a pair"):
        clean_texts([("one", "two", "three")])


@slow
@pytest.mark.parametrize("backend", ["onnx", "openvino"])
def test_an_int8_pair_classifier_is_calibrated_and_checked_on_real_pairs(tiny_classifier_dir, tmp_path, backend):
    pytest.importorskip({"onnx": "onnxruntime", "openvino": "openvino"}[backend])
    pairs = rte_pairs(24)
    report = export(tiny_classifier_dir, tmp_path, backend=backend, precision="int8", calibration=pairs)
    assert report.parity.texts == len(pairs) and report.parity.passed
    tokenizer = AutoTokenizer.from_pretrained(tiny_classifier_dir)
    batch = tokenize(tokenizer, pairs, padding=True, return_tensors="np")
    model = AutoModelForSequenceClassification.from_pretrained(tiny_classifier_dir).eval()
    names = ["input_ids", "attention_mask", "token_type_ids"]
    with torch.no_grad():
        reference = model(**{name: torch.from_numpy(batch[name]) for name in names}).logits.numpy()
    session = get_export_backend(backend).session(tmp_path, "int8")
    output = np.asarray(session({name: batch[name].astype(np.int64) for name in names}))
    assert np.mean(output.argmax(-1) == reference.argmax(-1)) >= 0.9
    flipped = np.asarray(session({**{name: batch[name].astype(np.int64) for name in names},
                                  "token_type_ids": np.zeros_like(batch["token_type_ids"], dtype=np.int64)}))
    assert not np.allclose(flipped, output)  # the artifact reads the segment ids the pairs carry
