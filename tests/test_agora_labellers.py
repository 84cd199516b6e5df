"""Agora's labellers on the real parent with a classification head and real SST-2 sentences: shapes, rows that
sum to 1, label names, a pipeline agreeing with the model, and clear errors for a bad callable."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import AutoModel, AutoModelForSequenceClassification, AutoTokenizer, pipeline

from hf_ose.agora.interfaces import AgoraError, Labeller
from hf_ose.agora.labellers import CallableLabeller, ModelLabeller, PipelineLabeller, as_labeller
from .testing_utils import slow

PAIRS = [("A man is playing a guitar.", "Nobody is playing music."), ("The cat sat on the mat.", "A cat sits."),
         ("It rained all day in the city.", "The weather was wet.")]


@pytest.fixture(scope="module")
def tokenizer(minilm_path: Path):
    return AutoTokenizer.from_pretrained(minilm_path)


@pytest.fixture(scope="module")
def sentences(sst2_dir: Path) -> list[str]:
    with open(sst2_dir / "validation.tsv", encoding="utf-8") as handle:
        return [row["sentence"] for row in csv.DictReader(handle, delimiter="\t")][:37]


@pytest.fixture(scope="module")
def classifier(minilm_path: Path):
    torch.manual_seed(0)
    return AutoModelForSequenceClassification.from_pretrained(
        minilm_path, num_labels=2, id2label={0: "negative", 1: "positive"}, label2id={"negative": 0, "positive": 1})


@pytest.fixture(scope="module")
def three_way(minilm_path: Path):
    torch.manual_seed(1)
    return AutoModelForSequenceClassification.from_pretrained(minilm_path, num_labels=3)


@slow
def test_model_labeller_shapes_sums_names_and_batching(classifier, tokenizer, sentences) -> None:
    classifier.train()
    labeller = ModelLabeller(classifier, tokenizer, batch_size=8)
    probabilities = labeller.probabilities(sentences)
    assert classifier.training  # put back in the mode it was in
    assert probabilities.shape == (37, 2) and np.allclose(probabilities.sum(axis=1), 1.0)
    assert labeller.num_labels == 2 and labeller.label_names == ("negative", "positive")
    # eval mode (no dropout): the same answer in any batch size, and matching one unbatched forward pass
    assert np.allclose(ModelLabeller(classifier, tokenizer, batch_size=37).probabilities(sentences), probabilities,
                       atol=1e-5)
    classifier.eval()
    with torch.no_grad():
        single = torch.softmax(classifier(**tokenizer(sentences[0], return_tensors="pt")).logits, -1)
    assert np.allclose(probabilities[0], single[0].numpy(), atol=1e-5)
    assert labeller.probabilities([]).shape == (0, 2)


def test_model_labeller_encodes_pairs_as_pairs(three_way, tokenizer) -> None:
    labeller = ModelLabeller(three_way, tokenizer)
    probabilities = labeller.probabilities(PAIRS)
    assert probabilities.shape == (3, 3) and np.allclose(probabilities.sum(axis=1), 1.0)
    assert labeller.label_names is None  # transformers' placeholder LABEL_0... names are no names
    three_way.eval()
    with torch.no_grad():
        pair = torch.softmax(three_way(**tokenizer(*PAIRS[1], return_tensors="pt")).logits, -1)[0].numpy()
        joined = torch.softmax(three_way(**tokenizer(" ".join(PAIRS[1]), return_tensors="pt")).logits, -1)[0].numpy()
    assert np.allclose(probabilities[1], pair, atol=1e-5) and not np.allclose(probabilities[1], joined, atol=1e-5)
    with pytest.raises(AgoraError, match="mix sentences and sentence pairs"):
        labeller.probabilities([PAIRS[0], "a sentence"])


@slow
@pytest.mark.parametrize("pairs", [False, True], ids=["sentences", "pairs"])
def test_pipeline_labeller_agrees_with_the_model_labeller(pairs, classifier, three_way, tokenizer,
                                                          sentences) -> None:
    model, points = (three_way, PAIRS) if pairs else (classifier, sentences)
    pipe = pipeline("text-classification", model=model, tokenizer=tokenizer, device="cpu")
    labeller = as_labeller(pipe, batch_size=4)
    assert isinstance(labeller, PipelineLabeller)
    expected = ModelLabeller(model, tokenizer).probabilities(points)
    probabilities = labeller.probabilities(points)
    assert probabilities.shape == expected.shape and np.allclose(probabilities, expected, atol=1e-5)
    assert labeller.num_labels == model.config.num_labels
    assert labeller.label_names == (None if pairs else ("negative", "positive"))


def test_callable_labeller_infers_width_and_checks_every_answer(sentences) -> None:
    def by_length(points):
        short = np.array([len(p) < 40 for p in points], dtype=float)
        return np.stack([short, 1 - short], axis=1)

    labeller = as_labeller(by_length)
    assert isinstance(labeller, CallableLabeller)
    with pytest.raises(AgoraError, match="not known before its first call"):
        labeller.num_labels
    probabilities = labeller.probabilities(sentences)
    assert probabilities.shape == (37, 2) and labeller.num_labels == 2
    assert probabilities[:, 0].tolist() == [float(len(s) < 40) for s in sentences]
    named = CallableLabeller(lambda points: [[0.2, 0.8]] * len(points), label_names=["neg", "pos"])
    assert named.num_labels == 2 and named.label_names == ("neg", "pos")
    assert named.probabilities([]).shape == (0, 2)


@pytest.mark.parametrize("answer, match", [
    (lambda points: [[0.5, 0.5]] * (len(points) - 1), r"shape \(2, 2\) for 3 points"),
    (lambda points: [0.5] * len(points), r"shape \(3,\)"),
    (lambda points: [[2.0, -1.0]] * len(points), "summing to 1.*softmax"),
    (lambda points: [[3.0, 1.0]] * len(points), "summing to 1"),
    (lambda points: [[0.2, 0.3, 0.5]] * len(points), r"num_labels=2"),
    (lambda points: [["a", "b"]] * len(points), "not a numeric array"),
    (lambda points: [[float("nan"), 1.0]] * len(points), "summing to 1"),
], ids=["rows", "1-d", "negative", "sums", "width", "text", "nan"])
def test_callable_labeller_bad_answers_are_refused(answer, match) -> None:
    with pytest.raises(AgoraError, match=match):
        CallableLabeller(answer, num_labels=2).probabilities(["a", "b", "c"])


def test_as_labeller_dispatch_and_errors(classifier, tokenizer, minilm_path, tmp_path) -> None:
    ready = CallableLabeller(lambda points: [[1.0, 0.0]] * len(points), num_labels=2)
    assert as_labeller(ready) is ready
    assert isinstance(as_labeller(classifier, tokenizer=tokenizer, batch_size=4), ModelLabeller)
    with pytest.raises(AgoraError, match="needs its tokenizer"):
        as_labeller(classifier)
    with pytest.raises(AgoraError, match="ForSequenceClassification.*train_teacher"):
        as_labeller(AutoModel.from_pretrained(minilm_path), tokenizer=tokenizer)
    with pytest.raises(AgoraError, match="Cannot label with a int"):
        as_labeller(3)
    with pytest.raises(AgoraError, match="does not exist"):
        as_labeller(tmp_path / "missing")
    classifier.save_pretrained(tmp_path / "teacher")
    tokenizer.save_pretrained(tmp_path / "teacher")
    loaded = as_labeller(tmp_path / "teacher")
    assert isinstance(loaded, Labeller) and loaded.label_names == ("negative", "positive")
    points = ["a quiet , moving film", "dull and far too long"]
    assert np.allclose(loaded.probabilities(points), ModelLabeller(classifier, tokenizer).probabilities(points),
                       atol=1e-5)
