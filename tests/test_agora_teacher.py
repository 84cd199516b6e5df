"""train_teacher: the real parent plus a new head, fine-tuned through AgoraTrainer on real SST-2 rows, saved in a
folder stock transformers loads; a model object; clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import AutoModel, AutoModelForSequenceClassification, AutoTokenizer, BertConfig, BertModel

from hf_ose.agora.arguments import AgoraArguments
from hf_ose.agora.interfaces import AgoraError
from hf_ose.agora.labellers import ModelLabeller, train_teacher
from hf_ose.tasks import load_task
from .testing_utils import slow


@pytest.fixture(scope="module")
def task(sst2_dir: Path):
    return load_task(sst2_dir).subsample(train=48, validation=16, test=16)


def _args(output_dir: Path, **overrides) -> AgoraArguments:
    settings = dict(output_dir=str(output_dir), max_steps=2, per_device_train_batch_size=8, learning_rate=1e-4,
                    save_strategy="no", report_to="none", agora_max_length=32, seed=0, use_cpu=True)
    return AgoraArguments(**{**settings, **overrides})


@slow
def test_the_parent_folder_becomes_a_saved_teacher(minilm_path, task, tmp_path) -> None:
    parent = AutoModel.from_pretrained(minilm_path)
    model, tokenizer = train_teacher(minilm_path, task, tmp_path / "teacher", args=_args(tmp_path / "ignored"))
    assert not (tmp_path / "ignored").exists()  # output_dir wins over args.output_dir
    assert model.config.num_labels == 2 and model.config.id2label == task.id2label
    # fine-tuned: the encoder moved away from the parent's weights
    assert not torch.equal(model.base_model.embeddings.word_embeddings.weight,
                           parent.embeddings.word_embeddings.weight)
    loaded = AutoModelForSequenceClassification.from_pretrained(tmp_path / "teacher")
    texts = list(task.test["sentence"][:8])
    assert np.allclose(ModelLabeller(loaded, AutoTokenizer.from_pretrained(tmp_path / "teacher")).probabilities(texts),
                       ModelLabeller(model, tokenizer).probabilities(texts), atol=1e-5)
    report = json.loads((tmp_path / "teacher" / "agora_report.json").read_text())
    assert len(report["rounds"]) == 1 and report["rounds"][0]["train_size"] == 48  # one setting, nothing generated
    assert 0.0 <= report["test_accuracy"] <= 1.0
    accuracy = (ModelLabeller(loaded, tokenizer).probabilities(list(task.test["sentence"])).argmax(1)
                == np.asarray(task.test["label"])).mean()
    assert report["test_accuracy"] == pytest.approx(accuracy)
    dev = (ModelLabeller(loaded, tokenizer).probabilities(list(task.validation["sentence"])).argmax(1)
           == np.asarray(task.validation["label"])).mean()
    assert report["metric"] == "eval_accuracy" and report["dev_score"] == pytest.approx(dev)  # ranked by accuracy


def test_a_bare_encoder_object_gets_a_fresh_seeded_head(minilm_path, task, tmp_path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(minilm_path)
    torch.manual_seed(0)
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=64)
    encoder = BertModel(config)
    heads = []
    for run in ("a", "b"):
        model, _ = train_teacher(encoder, task, tmp_path / run, args=_args(tmp_path / run, max_steps=1),
                                 tokenizer=tokenizer)
        assert type(model).__name__ == "BertForSequenceClassification"
        assert model.config.id2label == task.id2label
        heads.append(model.classifier.weight.detach().clone())
    assert torch.equal(heads[0], heads[1])  # the same seed gives the same head and the same training
    assert AutoModelForSequenceClassification.from_pretrained(tmp_path / "a").config.label2id == task.label2id


def test_bad_parents_are_refused(minilm_path, task, tmp_path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(minilm_path)
    with pytest.raises(AgoraError, match="not a folder"):
        train_teacher(tmp_path / "missing", task, tmp_path / "out", tokenizer=tokenizer)
    with pytest.raises(AgoraError, match="pass tokenizer="):
        train_teacher(BertModel(BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                           intermediate_size=64)), task, tmp_path / "out")
    three = tmp_path / "three-way"
    AutoModelForSequenceClassification.from_pretrained(minilm_path, num_labels=3).save_pretrained(three)
    with pytest.raises(AgoraError, match="classifies 3 classes.*bare encoder"):
        train_teacher(three, task, tmp_path / "out", tokenizer=tokenizer)
