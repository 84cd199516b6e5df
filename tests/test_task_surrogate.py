"""The task surrogate on the real parent (all-MiniLM-L6-v2) and real SST-2 rows."""

from __future__ import annotations

import csv
import math
import pickle
from dataclasses import dataclass, fields
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
import transformers as T
from datasets import Dataset

from hf_ose import Architecture
from hf_ose.adapters import get_adapter
from hf_ose.inheritance import extract_model
from hf_ose.data import DataError, load_labelled, load_labelled_splits, tokenize
from hf_ose.surrogates import SurrogateError, TaskSurrogate, TaskSurrogateSettings
from .testing_utils import slow

SMALL = dict(steps=3, batch_size=8, dev_size=32, threads=1)


def _rows(path: Path, count: int) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return [row for _, row in zip(range(count), csv.DictReader(handle, delimiter="\t"))]


@pytest.fixture(scope="module")
def setup(minilm_path: Path, sst2_dir: Path):
    parent = T.AutoModel.from_pretrained(minilm_path).eval()
    tokenizer = T.AutoTokenizer.from_pretrained(minilm_path)
    tiny = get_adapter(parent.config).write(parent.config, Architecture(2, 6, 192, 768))
    return parent, tokenizer, tiny, _rows(sst2_dir / "train.tsv", 320), _rows(sst2_dir / "validation.tsv", 128)


@slow
def test_the_probe_fitted_head_and_task_steps_rank_the_parent_above_a_much_smaller_variant(setup) -> None:
    """A random head starts at chance (dev cross-entropy about ln 2); the (small) linear-probe head starts
    below it; after 20 steps the parent's own config has a lower dev error than the tiny variant."""
    parent, tokenizer, tiny, train, dev = setup
    common = dict(tokenizer=tokenizer, batch_size=16, dev_size=128, threads=1)
    random_head = TaskSurrogate(parent, train, dev, steps=0, head_examples=0, metric="cross_entropy", **common)
    probe_head = TaskSurrogate(parent, train, dev, steps=0, metric="cross_entropy", **common)
    chance = random_head(parent.config)
    assert chance == pytest.approx(math.log(2), abs=0.05)
    assert probe_head(parent.config) < chance - 0.01
    trained = TaskSurrogate(parent, train, dev, steps=20, **common)
    full = trained(parent.config)
    assert 0.0 <= full < 0.4, full
    assert full < trained(tiny) - 0.03, (full, trained(tiny))


@slow
def test_value_is_finite_deterministic_and_survives_pickling(setup) -> None:
    parent, tokenizer, tiny, train, dev = setup
    surrogate = TaskSurrogate(parent, train, dev, tokenizer=tokenizer, distill_steps=2, **SMALL)
    value = surrogate(tiny)
    assert math.isfinite(value)
    assert surrogate(tiny) == value
    assert pickle.loads(pickle.dumps(surrogate))(tiny) == value
    assert surrogate.is_prior is False and surrogate.name == "task surrogate (3 steps, error rate, mean of 2 runs)"


@slow
def test_repeats_average_independent_runs_on_the_next_rows(setup) -> None:
    """Run r of the default two is the single run on the rows from r x steps x batch_size on, under seed + r."""
    parent, tokenizer, tiny, train, dev = setup
    step_rows = SMALL["steps"] * SMALL["batch_size"]
    rotated = [train[r * step_rows :] + train[: r * step_rows] for r in range(2)]
    runs = [TaskSurrogate(parent, rows, dev, tokenizer=tokenizer, metric="cross_entropy", seed=5 + r, repeats=1,
                          **SMALL)(tiny) for r, rows in enumerate(rotated)]
    averaged = TaskSurrogate(parent, train, dev, tokenizer=tokenizer, metric="cross_entropy", seed=5, **SMALL)
    assert runs[0] != runs[1]
    assert averaged(tiny) == pytest.approx(sum(runs) / 2, rel=1e-6)
    assert averaged.fingerprint()["repeats"] == 2 and "mean of 2 runs" in averaged.name
    with pytest.raises(ValueError, match="repeats >= 1"):
        TaskSurrogate(parent, train, dev, tokenizer=tokenizer, repeats=0, **SMALL)


@slow
def test_files_datasets_and_lists_give_the_same_value(setup, sst2_dir: Path) -> None:
    """Only the leading rows count (each run's steps x batch_size and head_examples, the first dev_size dev
    rows), whatever holds them."""
    parent, tokenizer, tiny, train, dev = setup
    small = {**SMALL, "head_examples": 64, "calibrate": False, "tokenizer": tokenizer}
    from_lists = TaskSurrogate(parent, train, dev, **small)
    from_files = TaskSurrogate(parent, sst2_dir / "train.tsv", str(sst2_dir / "validation.tsv"), **small)
    from_datasets = TaskSurrogate(parent, Dataset.from_list(train), Dataset.from_list(dev), **small)
    pairs = [(row["sentence"], int(row["label"])) for row in train]
    from_pairs = TaskSurrogate(parent, pairs, dev, **small)
    value = from_lists(tiny)
    assert from_files(tiny) == from_datasets(tiny) == from_pairs(tiny) == value
    assert from_datasets.fingerprint() == from_lists.fingerprint() == from_pairs.fingerprint()
    assert from_files.fingerprint()["train"] != from_lists.fingerprint()["train"]  # the whole file counts


@slow
def test_fingerprint_covers_parent_data_and_settings(setup) -> None:
    parent, tokenizer, _, train, dev = setup
    base = TaskSurrogate(parent, train, dev, tokenizer=tokenizer, **SMALL).fingerprint()
    assert base["objective"] == "TaskSurrogate" and len(base["parent"]) == 64
    changes = (
        {"steps": 4}, {"learning_rate": 3e-4}, {"distill_steps": 1}, {"seed": 1}, {"max_length": 32},
        {"metric": "cross_entropy"}, {"warmup": 0.0}, {"head_examples": 0}, {"dev_size": 16},
        {"train_embeddings": True}, {"repeats": 1},
    )
    for change in changes:
        other = TaskSurrogate(parent, train, dev, tokenizer=tokenizer, **{**SMALL, **change}).fingerprint()
        assert other != base, change
    distilled = TaskSurrogate(parent, train, dev, tokenizer=tokenizer, distill_steps=1, **SMALL).fingerprint()
    other_text = TaskSurrogate(
        parent, train, dev, tokenizer=tokenizer, distill_steps=1, texts=[r["sentence"] for r in dev], **SMALL
    ).fingerprint()
    assert distilled["texts"] != other_text["texts"] and base["texts"] is None
    flipped = [{**row, "label": str(1 - int(row["label"]))} for row in train]
    assert TaskSurrogate(parent, flipped, dev, tokenizer=tokenizer, **SMALL).fingerprint()["train"] != base["train"]


def test_every_setting_enters_the_fingerprint_even_one_added_later(setup) -> None:
    """The fingerprint is built from the settings dataclass, not from a hand-written list: a field added in a
    subclass keys the cache at once, and a settings object gives the same fingerprint as keyword overrides."""
    parent, tokenizer, _, train, dev = setup

    @dataclass(frozen=True)
    class WithSmoothing(TaskSurrogateSettings):
        label_smoothing: float = 0.0

    small = TaskSurrogateSettings(steps=3, batch_size=8, dev_size=32)
    base = TaskSurrogate(parent, train, dev, tokenizer=tokenizer, **SMALL).fingerprint()
    assert TaskSurrogate(parent, train, dev, small, tokenizer=tokenizer, threads=1).fingerprint() == base
    assert {f.name for f in fields(TaskSurrogateSettings)} <= set(base)
    extended = TaskSurrogate(parent, train, dev, WithSmoothing(**vars(small)), tokenizer=tokenizer, threads=1)
    assert extended.fingerprint() == {**base, "label_smoothing": 0.0}
    smoothed = TaskSurrogate(parent, train, dev, WithSmoothing(**vars(small)), tokenizer=tokenizer,
                             label_smoothing=0.1).fingerprint()
    assert smoothed["label_smoothing"] == 0.1 and smoothed != extended.fingerprint()
    with pytest.raises(SurrogateError, match=r"Unknown setting\(s\) \['stpes'\].*'steps'"):
        TaskSurrogate(parent, train, dev, tokenizer=tokenizer, stpes=3)
    with pytest.raises(SurrogateError, match="settings= takes a TaskSurrogateSettings, not a dict"):
        TaskSurrogate(parent, train, dev, {"steps": 3}, tokenizer=tokenizer)


def test_settings_refuse_values_out_of_range() -> None:
    with pytest.raises(SurrogateError, match="batch_size=0, but it needs batch_size >= 1"):
        TaskSurrogateSettings(batch_size=0)
    with pytest.raises(SurrogateError, match="warmup=1.5 is a fraction of the steps"):
        TaskSurrogateSettings(warmup=1.5)


@slow
def test_a_classification_parent_keeps_its_head(setup, minilm_path: Path) -> None:
    """With its own config and no steps, a sequence-classification parent scores its own dev loss and error
    exactly: its head is inherited, not refitted."""
    _, tokenizer, _, train, dev = setup
    torch.manual_seed(0)
    classifier = T.AutoModelForSequenceClassification.from_pretrained(minilm_path, num_labels=2).eval()
    common = dict(tokenizer=tokenizer, steps=0, dev_size=32, batch_size=32, threads=1)
    batch = tokenize(tokenizer, [row["sentence"] for row in dev[:32]], 64)
    labels = torch.tensor([int(r["label"]) for r in dev[:32]])
    with torch.inference_mode():
        logits = classifier(**batch).logits
    cross_entropy = TaskSurrogate(classifier, train, dev, metric="cross_entropy", **common)
    assert cross_entropy(classifier.config) == pytest.approx(float(F.cross_entropy(logits, labels)), abs=1e-5)
    error_rate = TaskSurrogate(classifier, train, dev, **common)
    assert error_rate(classifier.config) == pytest.approx(float((logits.argmax(-1) != labels).float().mean()))
    with pytest.raises(SurrogateError, match="classification head has 2 labels"):
        TaskSurrogate(classifier, train, dev, tokenizer=tokenizer, num_labels=3)


def test_missing_or_bad_labels_are_refused_clearly(setup, tmp_path: Path) -> None:
    parent, tokenizer, _, train, dev = setup
    sentences = [row["sentence"] for row in train]
    with pytest.raises(DataError, match="Labels are missing.*--label-column.*distillation surrogate"):
        TaskSurrogate(parent, sentences, dev, tokenizer=tokenizer)
    unlabelled = tmp_path / "unlabelled.tsv"
    unlabelled.write_text("sentence\n" + "\n".join(sentences[:5]) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match="Labels are missing"):
        TaskSurrogate(parent, train, unlabelled, tokenizer=tokenizer)
    with pytest.raises(DataError, match=r"lacks column\(s\) \['label'\].*--label-column"):
        TaskSurrogate(parent, Dataset.from_dict({"sentence": sentences}), dev, tokenizer=tokenizer)
    with pytest.raises(SurrogateError, match=r"integers in \[0, num_labels\)"):
        TaskSurrogate(parent, train, dev, tokenizer=tokenizer, num_labels=1)
    with pytest.raises(ValueError, match="metric='accuracy': choose one of"):
        TaskSurrogate(parent, train, dev, tokenizer=tokenizer, metric="accuracy")


def test_named_labels_are_numbered_once_across_train_and_dev() -> None:
    """A dev split without one of the classes keeps the training split's numbers."""
    train = [("good", "positive"), ("bad", "negative"), ("so-so", "neutral")]
    dev = [("great", "positive"), ("fine", "neutral")]
    (_, train_labels), (_, dev_labels) = load_labelled_splits([train, dev])
    assert train_labels == [2, 0, 1] and dev_labels == [2, 1]
    assert load_labelled(dev)[1] == [1, 0]  # numbered alone, the same names would get other numbers


def test_token_embeddings_stay_fixed_unless_asked(setup, monkeypatch) -> None:
    """By default the task steps leave the inherited token embeddings as they are and train the rest."""
    parent, tokenizer, tiny, train, dev = setup
    trained: list[T.PreTrainedModel] = []
    original = TaskSurrogate._score
    monkeypatch.setattr(TaskSurrogate, "_score", lambda self, model: trained.append(model) or original(self, model))
    for train_embeddings in (False, True):
        TaskSurrogate(parent, train, dev, tokenizer=tokenizer, calibrate=False, train_embeddings=train_embeddings,
                      repeats=1, **SMALL)(tiny)
    inherited = extract_model(parent, tiny)
    fixed, moved = (model.base_model.embeddings.word_embeddings.weight for model in trained)
    assert torch.equal(fixed, inherited.embeddings.word_embeddings.weight)
    assert not torch.equal(moved, inherited.embeddings.word_embeddings.weight)
    assert not torch.equal(trained[0].base_model.encoder.layer[0].output.dense.weight,
                           inherited.encoder.layer[0].output.dense.weight)


def test_a_decoder_parent_with_a_tokenizer_that_cannot_pad(sst2_dir: Path) -> None:
    """GPT-2's tokenizer has no padding token: the surrogate pads with end-of-sequence on a copy (the
    caller's tokenizer is unchanged) and the new score head finds each row's last real token."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    train, dev = _rows(sst2_dir / "train.tsv", 64), _rows(sst2_dir / "validation.tsv", 32)
    words = sorted({w for row in train + dev for w in row["sentence"].split()})
    vocab = {"<unk>": 0, "<eos>": 1, **{w: k + 2 for k, w in enumerate(words)}}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = T.PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="<unk>", eos_token="<eos>")
    config = T.GPT2Config(n_layer=2, n_embd=32, n_head=4, vocab_size=len(vocab), bos_token_id=1, eos_token_id=1)
    torch.manual_seed(0)
    parent = T.GPT2Model(config).eval()
    surrogate = TaskSurrogate(parent, train, dev, tokenizer=tokenizer, **SMALL)
    assert tokenizer.pad_token is None
    value = surrogate(get_adapter(config).write(config, Architecture(1, 4, 32, 64)))
    assert 0.0 <= value <= 1.0
    no_eos = T.PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="<unk>")
    with pytest.raises(DataError, match="neither a padding nor an end-of-sequence token"):
        TaskSurrogate(parent, train, dev, tokenizer=no_eos, **SMALL)
