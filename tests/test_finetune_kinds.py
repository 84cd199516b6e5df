"""The teacher and the student of every task kind: the head each kind gets, heads that do not fit refused, and a few
steps of fine-tuning on real STS-B and WNUT-17 rows (slow), scored with the task's metric; ``hf-ose finetune
--agora --distill`` on slices of STS-B and WNUT-17 (slow): Agora's loop runs and reports the task's metric."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import transformers as T

from hf_ose.agora import AgoraArguments, AgoraError
from hf_ose.agora.finetuning import (FinetuneOptions, SeedRun, build_student, check_model, format_runs,
                                     load_teacher, seed_summary, train_student, train_teacher)
from hf_ose.commands import main
from hf_ose.tasks import TOKEN_CLASSIFICATION, load_task, tokenize_task

from .test_tasks import _shared
from .testing_utils import slow


@pytest.fixture(scope="module")
def tiny_encoder(tmp_path_factory, minilm_path) -> Path:
    """A saved 2-layer, 32-wide bare BERT (seed 0) with the real parent's tokenizer."""
    import torch

    folder = tmp_path_factory.mktemp("tiny-encoder")
    torch.manual_seed(0)
    T.BertModel(T.BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64)
                ).save_pretrained(folder)
    T.AutoTokenizer.from_pretrained(minilm_path).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def tasks(sst2_dir):
    return {"classification": load_task(sst2_dir).subsample(train=64, validation=32, test=32),
            "regression": load_task(_shared("stsb")).subsample(train=64, validation=32, test=32),
            "token-classification": load_task(_shared("wnut17")).subsample(train=64, validation=32, test=32),
            "embedding": load_task(_shared("stsb"), kind="embedding").subsample(train=64, validation=32, test=32)}


def test_each_kind_gets_its_head(tiny_encoder, tasks):
    regressor, _ = build_student(tiny_encoder, tasks["regression"])
    assert type(regressor).__name__ == "BertForSequenceClassification"
    assert (regressor.config.num_labels, regressor.config.problem_type) == (1, "regression")
    tagger, _ = build_student(tiny_encoder, tasks["token-classification"])
    assert type(tagger).__name__ == "BertForTokenClassification"
    assert tagger.config.id2label == tasks["token-classification"].id2label and tagger.config.num_labels == 13
    encoder, _ = build_student(tiny_encoder, tasks["embedding"])
    assert type(encoder).__name__ == "BertModel"


def test_a_head_that_does_not_match_the_task_is_refused(tmp_path, tiny_encoder, tasks):
    tagger = tmp_path / "tagger"
    T.AutoModelForTokenClassification.from_pretrained(tiny_encoder, num_labels=13).save_pretrained(tagger)
    T.AutoTokenizer.from_pretrained(tiny_encoder).save_pretrained(tagger)
    with pytest.raises(AgoraError, match=r"is a token classifier but the task sst2 is classification, which needs a "
                                         r"sequence classifier: pass its bare encoder"):
        check_model(tagger, tasks["classification"])
    assert check_model(tagger, tasks["token-classification"]) is not None
    three = tmp_path / "three"
    T.AutoModelForSequenceClassification.from_pretrained(tiny_encoder, num_labels=3).save_pretrained(three)
    with pytest.raises(AgoraError, match=r"classifies 3 classes but the task stsb is regression, with one score"):
        load_teacher(three, tasks["regression"])


@slow
@pytest.mark.parametrize("kind", ["classification", "regression", "token-classification", "embedding"])
def test_a_teacher_of_every_kind_trains_saves_and_reports_its_metric(tiny_encoder, tasks, tmp_path, kind):
    task = tasks[kind]
    args = AgoraArguments(output_dir=str(tmp_path / "ignored"), max_steps=4, learning_rate=1e-3,
                          per_device_train_batch_size=16, report_to="none", save_strategy="no", seed=0)
    model, tokenizer = train_teacher(tiny_encoder, task, tmp_path / "teacher", args=args)
    report = json.loads((tmp_path / "teacher" / "agora_report.json").read_text())
    assert report["metric"] == f"eval_{task.metric_name}" and report["test_metric_name"] == task.metric_name
    assert report["task"] == kind
    print(f"{kind}: dev {task.metric_name} {report['dev_score']:.3f}, test {report['test_metric']:.3f}")
    assert math.isfinite(report["dev_score"]) and math.isfinite(report["test_metric"])
    assert (report["test_accuracy"] is not None) == (kind == "classification")  # accuracy only where it is one
    loaded, _ = load_teacher(tmp_path / "teacher", task)
    assert type(loaded) is type(model)
    if kind == "token-classification":
        assert loaded.config.id2label == task.id2label
        assert 0.0 <= report["test_metric"] <= 1.0
    if kind == "regression":
        assert loaded.config.problem_type == "regression"
    if kind == "embedding":
        from hf_ose.finetune import sentence_embeddings

        first, second = (sentence_embeddings(loaded, tokenizer, task.test[column]) for column in ("sentence1",
                                                                                                  "sentence2"))
        spearman = task.compute_metrics((first * second).sum(1), task.test["label"])["spearman"]
        assert report["test_metric"] == pytest.approx(spearman, abs=1e-6)


def test_an_embedding_task_is_not_fine_tuned_as_a_student(tiny_encoder, tasks, tmp_path):
    with pytest.raises(AgoraError, match="stsb is an embedding task, which has no head to fine-tune"):
        train_student(tiny_encoder, tasks["embedding"], tmp_path / "out", FinetuneOptions(), seed=0)
    assert not (tmp_path / "out").exists()


def test_seed_figures_carry_the_tasks_metric_under_its_name(tasks, tmp_path):
    runs = [SeedRun(seed, "pearson", dev, test, 2, 40, 1.0, tmp_path) for seed, dev, test in
            ((0, 0.5, 0.25), (1, 0.75, 0.5))]
    summary = seed_summary(runs, runs[1])
    assert summary["metric"] == "pearson" and summary["test_pearson_mean"] == pytest.approx(0.375)
    assert summary["runs"][0]["test_pearson"] == 0.25 and "test_accuracy" not in summary["runs"][0]
    table = format_runs(runs, runs[1], tasks["regression"], FinetuneOptions(agora=True))
    assert "dev pearson" in table and "test pearson over 2 seed(s): mean 0.3750" in table
    assert "accuracy" not in table


def _slice(name: str, folder: Path, rows: int) -> Path:
    """The first ``rows`` rows of each split of the real ``name`` data (validation and test: half as many), as a
    task folder ``folder/name`` that ``--task name`` reads with ``HF_OSE_DATA_DIR=folder``."""
    source, target = _shared(name), folder / name
    target.mkdir(parents=True)
    for path in sorted(source.iterdir()):
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
        header = 1 if path.suffix == ".tsv" else 0
        keep = rows if path.stem == "train" else rows // 2
        (target / path.name).write_text("".join(lines[:header + keep]), encoding="utf-8")
    return folder


def _test_predictions(out: Path, task, auto_class: type) -> tuple[np.ndarray | list, list]:
    """The saved model's test predictions, loaded with stock transformers, and their references."""
    model, tokenizer = auto_class.from_pretrained(out).eval(), T.AutoTokenizer.from_pretrained(out)
    test = tokenize_task(task, tokenizer, max_length=32)["test"]
    collate = (T.DataCollatorForTokenClassification(tokenizer) if task.kind == TOKEN_CLASSIFICATION
               else T.DataCollatorWithPadding(tokenizer))
    batch = collate([dict(row) for row in test])
    labels = batch.pop("labels")
    with torch.no_grad():
        logits = model(**batch).logits
    if task.kind == TOKEN_CLASSIFICATION:
        return logits.argmax(-1).numpy(), labels.numpy()
    return logits[:, 0].numpy(), labels.numpy()


@slow
@pytest.mark.parametrize("name, auto_class", [("stsb", T.AutoModelForSequenceClassification),
                                              ("wnut17", T.AutoModelForTokenClassification)])
def test_finetune_runs_agora_with_distillation_on_regression_and_token_classification(
        tiny_encoder, tmp_path, monkeypatch, capsys, name, auto_class):
    monkeypatch.setenv("HF_OSE_DATA_DIR", str(_slice(name, tmp_path / "data", rows=48)))
    task, out = load_task(name).without_validation_rows_in_test()[0], tmp_path / "out"  # as finetune scores it
    settings = json.dumps([{"learning_rate": 1e-3}, {"learning_rate": 3e-3}])
    assert main(["finetune", str(tiny_encoder), "--task", name, "--agora", "--distill", "--settings", settings,
                 "--samples-per-mistake", "1", "--epochs", "1", "--batch-size", "16", "--max-length", "32",
                 "--out", str(out)]) == 0
    report = json.loads((out / "agora_report.json").read_text())
    metric = task.metric_name
    assert report["task"] == task.kind and report["metric"] == f"eval_{metric}" and metric in ("pearson", "f1")
    first, second = report["rounds"]
    assert first["mistakes"] > 0 and first["kept"] == first["generated"] > 0  # Agora sampled near its mistakes
    assert second["train_size"] == 48 + first["kept"] and len(second["settings"]) == 1
    assert report["test_metric_name"] == metric and report["test_accuracy"] is None
    assert report["seeds"]["runs"][0][f"test_{metric}"] == report["test_metric"]
    predictions, references = _test_predictions(out, task, auto_class)
    assert task.compute_metrics(predictions, references)[metric] == pytest.approx(report["test_metric"], abs=1e-5)
    assert (out / "teacher" / "config.json").is_file()
    printed = capsys.readouterr().out
    assert f"test {metric} over 1 seed(s)" in printed
    assert f"loads with {auto_class.__name__}.from_pretrained" in printed
