"""Fine-tuning an inherited student with a classification head (hf_ose.finetune) on real SST-2 rows."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch
import transformers as T

from hf_ose import Architecture, get_adapter
from hf_ose.exceptions import HfOseError
from hf_ose.finetune import FineTuneError, accuracy, fine_tune_classifier, with_classification_head
from hf_ose.inheritance import extract_model
from hf_ose.torch_context import seeded
from .testing_utils import slow


@pytest.fixture(scope="module")
def setup(minilm_path: Path, sst2_dir: Path):
    """The parent, its tokenizer, a one-layer student config, and 32 negative + 32 positive training rows."""
    parent = T.AutoModel.from_pretrained(minilm_path).eval()
    tokenizer = T.AutoTokenizer.from_pretrained(minilm_path)
    config = get_adapter(parent.config).write(parent.config, Architecture(1, 12, 384, 1536))
    with (sst2_dir / "train.tsv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    balanced = [r for r in rows if r["label"] == "0"][:32] + [r for r in rows if r["label"] == "1"][:32]
    return parent, tokenizer, config, [r["sentence"] for r in balanced], [int(r["label"]) for r in balanced]


def _student(parent, config, seed: int = 0):
    """The inherited student with a new two-class head, built under ``seed`` (head init and dropout)."""
    torch.manual_seed(seed)
    return with_classification_head(extract_model(parent, config), config, num_labels=2)


@slow
def test_fine_tuning_lowers_the_loss_and_raises_training_accuracy(setup) -> None:
    parent, tokenizer, config, texts, labels = setup
    model = _student(parent, config)
    before = accuracy(model, tokenizer, texts, labels)
    losses = fine_tune_classifier(model, texts, labels, tokenizer, epochs=4, batch_size=16, lr=3e-4, seed=0)
    after = accuracy(model, tokenizer, texts, labels)
    assert len(losses) == 4 * 4
    assert sum(losses[-4:]) / 4 < sum(losses[:4]) / 4 - 0.05, losses
    assert before < 0.6 and after > before + 0.25, (before, after)
    assert not model.training


@slow
def test_a_seeded_run_is_bit_identical_and_the_seed_sets_the_batch_order(setup) -> None:
    parent, tokenizer, config, texts, labels = setup
    runs = []
    for order_seed in (5, 5, 6):
        with seeded(0):
            model = _student(parent, config)
            losses = fine_tune_classifier(model, texts[:40], labels[:40], tokenizer, batch_size=16, seed=order_seed)
        runs.append((losses, model.state_dict()))
    (first, weights), (again, weights_again), (other, _) = runs
    assert len(first) == 3  # ceil(40 / 16): the last batch is smaller
    assert first == again
    assert all(torch.equal(weights[name], weights_again[name]) for name in weights)
    assert first != other


@slow
def test_accuracy_counts_arg_max_hits_whatever_the_batch_size(setup) -> None:
    parent, tokenizer, config, texts, labels = setup
    model = _student(parent, config)
    share = accuracy(model, tokenizer, texts, labels)
    with torch.inference_mode():
        batch = tokenizer(texts, padding=True, truncation=True, max_length=64, return_tensors="pt")
        predicted = model.eval()(**batch).logits.argmax(-1)
    assert share == pytest.approx(float((predicted == torch.tensor(labels)).float().mean()))
    assert accuracy(model, tokenizer, texts, labels, batch_size=7) == pytest.approx(share)
    assert accuracy(model, tokenizer, texts, [1 - y for y in labels]) == pytest.approx(1 - share)


def test_unusable_models_rows_and_settings_are_refused_with_the_fix(setup) -> None:
    parent, tokenizer, config, texts, labels = setup
    model = _student(parent, config)
    with pytest.raises(FineTuneError, match="one integer label per text"):
        fine_tune_classifier(model, texts, labels[:-1], tokenizer)
    with pytest.raises(FineTuneError, match="with_classification_head"):
        accuracy(extract_model(parent, config), tokenizer, texts, labels)
    with pytest.raises(FineTuneError, match="head has 2 classes"):
        fine_tune_classifier(model, texts, [2] * len(texts), tokenizer)
    with pytest.raises(FineTuneError, match="epochs and batch_size >= 1"):
        fine_tune_classifier(model, texts, labels, tokenizer, epochs=0)
    assert issubclass(FineTuneError, HfOseError)


def test_the_old_heads_module_still_works_and_warns():
    import hf_ose.heads

    with pytest.warns(DeprecationWarning, match="hf_ose.heads.with_classification_head has moved to hf_ose.finetune"):
        assert hf_ose.heads.with_classification_head is with_classification_head
