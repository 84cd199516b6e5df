"""DistillationTrainer: a stock Trainer that distils an inherited student from the real parent on SST-2 text."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch
import transformers as T

from hf_ose import Architecture
from hf_ose.adapters import get_adapter
from hf_ose.distillation import DistillationLoss
from hf_ose.distillation.trainer import DistillationTrainer, distillation_dataset
from hf_ose.inheritance import extract_model
from hf_ose.torch_context import torch_threads
from .testing_utils import slow


@pytest.fixture(scope="module")
def setup(minilm_path: Path, sst2_dir: Path):
    parent = T.AutoModel.from_pretrained(minilm_path).eval()
    tokenizer = T.AutoTokenizer.from_pretrained(minilm_path)
    with (sst2_dir / "train.tsv").open(newline="", encoding="utf-8") as handle:
        texts = [row["sentence"] for _, row in zip(range(300), csv.DictReader(handle, delimiter="\t"))]
    tiny = get_adapter(parent.config).write(parent.config, Architecture(2, 6, 192, 768))
    return parent, tokenizer, tiny, texts


def _trainer(setup, tmp_path: Path, steps: int) -> DistillationTrainer:
    """A trainer for a fresh 2-layer, hidden-192 student inherited from the parent."""
    parent, tokenizer, tiny, texts = setup
    student = extract_model(parent, tiny)
    train, collator = distillation_dataset(tokenizer, texts[64:], max_length=64)
    held_out, _ = distillation_dataset(tokenizer, texts[:64], max_length=64)
    args = T.TrainingArguments(
        output_dir=str(tmp_path / "run"), report_to=[], use_cpu=True, save_strategy="no", logging_strategy="no",
        disable_tqdm=True, max_steps=steps, per_device_train_batch_size=16, per_device_eval_batch_size=32,
        learning_rate=3e-4, weight_decay=0.0, seed=0,
    )
    return DistillationTrainer(
        model=student, teacher=parent, loss=DistillationLoss(relation_heads=6), args=args,
        train_dataset=train, eval_dataset=held_out, data_collator=collator,
    )


@slow
def test_training_lowers_held_out_distillation_loss_and_saves_a_stock_model(setup, tmp_path: Path) -> None:
    parent, tokenizer, _, texts = setup
    with torch_threads(1):
        trainer = _trainer(setup, tmp_path, steps=8)
        student = trainer.model
        before = trainer.evaluate()["eval_loss"]
        trainer.train()
        after = trainer.evaluate()["eval_loss"]
        assert after < 0.5 * before
        assert not parent.training and all(p.grad is None for p in parent.parameters())

        trainer.save_model(str(tmp_path / "student"))
        loaded = T.AutoModel.from_pretrained(tmp_path / "student")
        batch = tokenizer(texts[:4], padding=True, return_tensors="pt")
        with torch.inference_mode():
            expected = student.eval()(**batch).last_hidden_state
            assert type(loaded) is type(student)
            assert torch.equal(loaded(**batch).last_hidden_state, expected)


def test_compute_loss_is_the_distillation_loss(setup, tmp_path: Path) -> None:
    """The plug: the loss the Trainer optimises is DistillationLoss on (student, teacher) hidden states."""
    parent, tokenizer, _, texts = setup
    trainer = _trainer(setup, tmp_path, steps=1)
    student = trainer.model
    batch = dict(tokenizer(texts[:8], padding=True, return_tensors="pt"))
    with torch.inference_mode():
        expected = trainer.distillation_loss(
            student(**batch, output_hidden_states=True), parent(**batch, output_hidden_states=True),
            batch["attention_mask"],
        )
        loss, outputs = trainer.compute_loss(student, batch, return_outputs=True)
    assert float(loss) == pytest.approx(float(expected), rel=1e-6)
    assert outputs.hidden_states is not None and len(outputs.hidden_states) == 3
