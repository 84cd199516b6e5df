"""The teacher and the student of every task kind: the head each kind gets, heads that do not fit refused, and a few
steps of fine-tuning on real STS-B and WNUT-17 rows (slow), scored with the task's metric."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import transformers as T

from hf_ose.agora import AgoraArguments, AgoraError
from hf_ose.agora.finetuning import build_student, check_model, load_teacher, train_teacher
from hf_ose.tasks import load_task

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
    assert report["metric"] == f"eval_{task.metric_name}"
    print(f"{kind}: dev {task.metric_name} {report['dev_score']:.3f}, test {report['test_accuracy']:.3f}")
    assert math.isfinite(report["dev_score"]) and math.isfinite(report["test_accuracy"])
    loaded, _ = load_teacher(tmp_path / "teacher", task)
    assert type(loaded) is type(model)
    if kind == "token-classification":
        assert loaded.config.id2label == task.id2label
        assert 0.0 <= report["test_accuracy"] <= 1.0
    if kind == "regression":
        assert loaded.config.problem_type == "regression"
    if kind == "embedding":
        from hf_ose.finetune import sentence_embeddings

        first, second = (sentence_embeddings(loaded, tokenizer, task.test[column]) for column in ("sentence1",
                                                                                                  "sentence2"))
        spearman = task.compute_metrics((first * second).sum(1), task.test["label"])["spearman"]
        assert report["test_accuracy"] == pytest.approx(spearman, abs=1e-6)
