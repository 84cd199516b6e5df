"""``hf-ose compress`` for every task kind with a head: how a model of each kind is scored (word tags on real
WNUT-17 sentences, scores on STS-B pairs), how an artifact's agreement with the student is measured and which
runtime ships, the summary table, and (slow) whole runs on slices of WNUT-17 and STS-B that end with a package
scored by the task's metric."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import transformers as T

from hf_ose.budgets import Budget
from hf_ose.compression.delivery import _pytorch, evaluate_stage, format_summary, shipped_runtime
from hf_ose.compression.pipeline import compress
from hf_ose.compression.scoring import SplitOutputs, agreement, split_outputs, task_score
from hf_ose.compression.settings import CompressSettings, CompressSettingsError
from hf_ose.metrics import compute_task_metrics
from hf_ose.tasks import load_task, tokenize_task

from .test_tasks import _shared
from .testing_utils import slow

# A 4-layer, hidden-64 parent's time is mostly fixed overhead: its smallest candidate measured 2.1x on CI's
# machine, under the default 2.2x. These tests are about the package each kind ends with, not about speed.
TINY_PARENT_BUDGET = Budget(min_speedup=1.5)


@pytest.fixture(scope="module")
def wnut(tmp_path_factory):
    return load_task(_shared("wnut17")).subsample(train=48, validation=24, test=24)


@pytest.fixture(scope="module")
def tagger_dir(tmp_path_factory, minilm_path, wnut) -> Path:
    """A 2-layer, 32-wide BERT tagger for WNUT-17's 13 tags (seed 0) with the real parent's tokenizer."""
    folder = tmp_path_factory.mktemp("tagger")
    torch.manual_seed(0)
    config = T.BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
                          num_labels=wnut.num_labels, id2label=wnut.id2label, label2id=wnut.label2id)
    T.BertForTokenClassification(config).save_pretrained(folder)
    T.AutoTokenizer.from_pretrained(minilm_path).save_pretrained(folder)
    return folder


def test_a_tagger_is_scored_on_one_tag_per_word_as_the_trainer_scores_it(tagger_dir, wnut, tmp_path):
    tokenizer = T.AutoTokenizer.from_pretrained(tagger_dir)
    run, names = _pytorch(tagger_dir, wnut.kind, tokenizer)
    outputs = split_outputs(run, tokenizer, wnut, wnut.test, names, max_length=128, batch_size=5)
    words = [len(sentence) for sentence in wnut.test["tokens"]]
    assert [len(tags) for tags in outputs.predictions] == words  # every word kept (a URL is 70 tokens), one tag each
    assert [list(tags) for tags in outputs.references] == [list(tags) for tags in wnut.test["ner_tags"]]
    # the same model through Trainer.predict, with transformers' own token collator and padding
    trainer = T.Trainer(model=T.AutoModelForTokenClassification.from_pretrained(tagger_dir),
                        args=T.TrainingArguments(output_dir=str(tmp_path), report_to="none", use_cpu=True,
                                                 per_device_eval_batch_size=7),
                        data_collator=T.DataCollatorForTokenClassification(tokenizer))
    predicted = trainer.predict(tokenize_task(wnut, tokenizer, max_length=128)["test"])
    expected = compute_task_metrics(wnut.kind, predicted.predictions, predicted.label_ids, wnut.label_names)
    assert task_score(wnut, outputs) == pytest.approx(expected["f1"])
    assert compute_task_metrics(wnut.kind, outputs.predictions, outputs.references, wnut.label_names)[
        "accuracy"] == pytest.approx(expected["accuracy"])


def test_truncated_sentences_are_scored_on_the_words_the_encoding_kept(tagger_dir, wnut):
    tokenizer = T.AutoTokenizer.from_pretrained(tagger_dir)
    run, names = _pytorch(tagger_dir, wnut.kind, tokenizer)
    outputs = split_outputs(run, tokenizer, wnut, wnut.test, names, max_length=8)
    kept = [len(tags) for tags in outputs.predictions]
    assert kept == [len(tags) for tags in outputs.references] and max(kept) < max(map(len, wnut.test["tokens"]))
    assert all(len(tags) <= 6 for tags in outputs.predictions)  # 8 tokens less [CLS] and [SEP]


def test_agreement_is_a_share_of_classes_or_word_tags_and_a_correlation_of_scores():
    same = SplitOutputs(np.array([0, 1, 1, 0]), None)
    assert agreement("classification", SplitOutputs(np.array([0, 1, 0, 0]), None), same) == \
        type(agreement("classification", same, same))(0.75, 4, True)
    tags = SplitOutputs([np.array([0, 1, 2]), np.array([0])], None)
    off = SplitOutputs([np.array([0, 1, 1]), np.array([0])], None)
    assert (agreement("token-classification", off, tags).value, agreement("token-classification", off, tags).units) \
        == (0.75, 4)
    scores = SplitOutputs(np.array([0.1, 2.0, 3.5, 4.9]), None)
    shifted = SplitOutputs(scores.predictions * 2 + 1, None)  # another scale, the same order and shape
    result = agreement("regression", shifted, scores)
    assert result.value == pytest.approx(1.0) and not result.is_share
    assert math.isnan(agreement("regression", SplitOutputs(np.ones(4), None), scores).value)


def test_a_regression_artifact_ships_on_its_correlation_with_the_student():
    ms = {"onnxruntime-int8": 3.0, "openvino-int8": 3.5}
    evaluation = {"dev_rows": 50, "onnxruntime-int8": {"dev_agreement": 0.985, "agreement_is_share": False},
                  "openvino-int8": {"dev_agreement": 0.995, "agreement_is_share": False}}
    assert shipped_runtime(ms, evaluation, 0.99) == "openvino-int8"
    assert shipped_runtime(ms, evaluation, 0.98) == "onnxruntime-int8"  # both correlate enough: the fastest
    evaluation["openvino-int8"]["dev_agreement"] = float("nan")  # a constant artifact: never the most agreeing
    assert shipped_runtime(ms, evaluation, 0.99) == "onnxruntime-int8"
    tags = {"dev_rows": 10, "onnxruntime-int8": {"dev_agreement": 0.995, "dev_units": 5000},
            "openvino-int8": {"dev_agreement": 0.995, "dev_units": 200}}
    assert shipped_runtime(ms, tags, 0.99) == "onnxruntime-int8"  # 5,000 tags: surely >= 99%; 200: not


def test_the_summary_of_a_regression_run_shows_pearson_and_the_correlation():
    summary = {"cpu": "cpu", "threads": 2, "batch_size": 1, "seq_len": 128, "test_rows": 1379, "task": "stsb",
               "kind": "regression", "metric": "pearson", "parent_ms": 20.0, "teacher_score": 0.86,
               "architecture": "D=3 A=12", "student_ms": 9.0, "student_score": 0.84, "runtime": "onnxruntime-int8",
               "params": 16.5e6, "artifact_ms": {"onnxruntime-int8": 4.0}, "artifact_score": {"onnxruntime-int8": 0.83},
               "agreement": "pearson", "artifact_agreement": {"onnxruntime-int8": 0.9931}, "min_agreement": 0.99,
               "dev_rows": 500}
    lines = format_summary(summary).splitlines()
    assert "test pearson on 1379 rows of stsb" in lines[0] and "agreement r" in lines[1]
    assert lines[3].split()[-2:] == ["84.00%", "97.7%"]
    assert lines[4].split()[-1] == "0.9931" and "Pearson correlation" in lines[5]


def test_an_embedding_task_compress_cannot_run_is_refused_naming_the_fix(tiny_classifier_dir, tmp_path):
    sentences = tmp_path / "sentences"
    sentences.mkdir()
    (sentences / "train.txt").write_text("a cat sat on the mat\nrain fell all day\n")
    (sentences / "task.json").write_text(json.dumps({"kind": "embedding"}))
    with pytest.raises(CompressSettingsError, match=r"embedding task without similarity pairs: .* \(sentence1, "
                                                    r"sentence2, score\)"):
        compress(CompressSettings(parent=str(tiny_classifier_dir), task=str(sentences)), tmp_path / "out")
    scored = _embedding_task(tmp_path / "scored", rows=8)
    with pytest.raises(CompressSettingsError, match="artifacts are int8"):
        compress(CompressSettings(parent=str(tiny_classifier_dir), task=str(scored), precision="fp32"), tmp_path / "out")
    with pytest.raises(CompressSettingsError, match="teacher is the parent itself"):
        compress(CompressSettings(parent=str(tiny_classifier_dir), task=str(scored), teacher=str(tiny_classifier_dir)),
                 tmp_path / "out")
    assert not (tmp_path / "out").exists()


def _embedding_task(folder: Path, rows: int) -> Path:
    """An embedding task folder from real STS-B rows: the train pairs' sentences as unlabelled text, ``rows``
    scored pairs each for validation and test."""
    stsb = _shared("stsb")
    folder.mkdir()
    (folder / "task.json").write_text(json.dumps({"kind": "embedding", "score_range": [0, 5]}))
    train = [line.split("\t") for line in (stsb / "train.tsv").read_text().splitlines()[1:]]
    header = (stsb / "train.tsv").read_text().splitlines()[0].split("\t")
    first, second = header.index("sentence1"), header.index("sentence2")
    (folder / "train.txt").write_text("\n".join(s for row in train[:4 * rows] for s in (row[first], row[second])) + "\n")
    for split in ("validation", "test"):
        lines = (stsb / f"{split}.tsv").read_text().splitlines()
        (folder / f"{split}.tsv").write_text("\n".join(lines[:rows + 1]) + "\n")
    return folder


def test_evaluate_scores_teacher_and_student_by_the_tasks_metric(tagger_dir, wnut, tmp_path):
    settings = CompressSettings(parent=str(tagger_dir), task="wnut17", max_length=64, agreement_rows=10)
    result = evaluate_stage(settings, wnut, tagger_dir, tagger_dir, {}, progress=False)
    assert (result["metric"], result["kind"], result["rows"], result["dev_rows"]) == ("f1", wnut.kind, 24, 10)
    assert result["teacher_score"] == result["student_score"]  # the same model


@slow
@pytest.mark.parametrize("name", ["wnut17", "stsb"])
def test_compress_runs_a_token_classification_and_a_regression_task_to_a_package(name, tmp_path, minilm_path):
    parent = tmp_path / "parent"
    torch.manual_seed(0)
    T.BertModel(T.BertConfig(hidden_size=64, num_hidden_layers=4, num_attention_heads=4, intermediate_size=256,
                             max_position_embeddings=128)).save_pretrained(parent)
    T.AutoTokenizer.from_pretrained(minilm_path).save_pretrained(parent)
    settings = CompressSettings.quick(str(parent), str(_shared(name)), train_rows=96, validation_rows=48,
                                      test_rows=48, agreement_rows=48, latency_samples=3, distill_steps=4,
                                      budget=TINY_PARENT_BUDGET)
    result = compress(settings, tmp_path / "out", progress=False, talk=False)
    summary = result.summary()
    task = load_task(_shared(name))
    assert (summary["kind"], summary["metric"]) == (task.kind, task.metric_name)
    assert summary["test_rows"] == 48 and summary["student_speedup"] > 1
    assert 0 <= summary["student_score"] <= 1 or summary["metric"] == "pearson"
    auto = T.AutoModelForTokenClassification if name == "wnut17" else T.AutoModelForSequenceClassification
    model = auto.from_pretrained(result.folder)
    assert model.config.num_labels == task.num_labels and sum(p.numel() for p in model.parameters()) == \
        summary["params"]
    assert set(summary["artifact_score"]) == set(summary["artifact_agreement"]) == set(summary["artifact_ms"])
    assert summary["agreement"] == ("pearson" if name == "stsb" else "share")
    card = (result.folder / "README.md").read_text()
    tag = "token-classification" if name == "wnut17" else "text-classification"
    assert f"pipeline_tag: {tag}" in card and f"type: {task.metric_name}" in card
    stages = json.loads((tmp_path / "out" / "stages.json").read_text())["stages"]
    assert stages["finetune"]["outputs"]["metric"] == task.metric_name


@slow
def test_compress_runs_an_embedding_task_to_a_sentence_transformers_package(tmp_path, minilm_path):
    from hf_ose.embeddings import SentenceEncoder, artifact_encoder
    from hf_ose.inheritance import save_student

    torch.manual_seed(0)
    tiny = T.BertModel(T.BertConfig(hidden_size=64, num_hidden_layers=4, num_attention_heads=4,
                                    intermediate_size=256, max_position_embeddings=128))
    parent = tmp_path / "parent"
    save_student(tiny, parent, parent=minilm_path)  # the real parent's sentence-transformers pipeline
    task = _embedding_task(tmp_path / "sentences", rows=48)
    settings = CompressSettings.quick(str(parent), str(task), train_rows=96, latency_samples=3, student_epochs=1.0,
                                      budget=TINY_PARENT_BUDGET)
    result = compress(settings, tmp_path / "out", progress=False, talk=False)
    summary = result.summary()
    assert (summary["kind"], summary["metric"], summary["agreement"]) == ("embedding", "spearman", "cosine")
    assert summary["student_speedup"] > 1 and summary["test_rows"] + summary["test_rows_left_out"] == 48
    assert 0 < summary["student_cosine_to_parent"]["mean"] <= 1
    folder = result.folder
    assert (folder / "modules.json").is_file() and (folder / "1_Pooling" / "config.json").is_file()
    onnx = sorted((folder / "onnx").glob("model_qint8_*.onnx"))
    assert len(onnx) == 1 and set(summary["artifact_ms"]) == {"onnxruntime-int8"}
    student = SentenceEncoder.from_pretrained(folder)
    artifact = artifact_encoder(folder, "onnx")
    texts = ["a man is playing a guitar", "the cat sleeps"]
    cosine = (student.encode(texts) * artifact.encode(texts)).sum(-1) / (
        np.linalg.norm(student.encode(texts), axis=-1) * np.linalg.norm(artifact.encode(texts), axis=-1))
    assert cosine.min() > 0.9
    card = (folder / "README.md").read_text()
    assert "pipeline_tag: sentence-similarity" in card and "library_name: sentence-transformers" in card
    assert "type: spearman" in card
    stages = json.loads((tmp_path / "out" / "stages.json").read_text())["stages"]
    assert stages["finetune"]["outputs"]["rounds"] == 0 and "Agora does not apply" in stages["finetune"]["outputs"][
        "skipped"]


def test_a_summary_written_before_every_kind_reads_as_accuracy():
    from hf_ose.publish.folder_card import summary_scores

    old = {"teacher_accuracy": 0.9, "student_accuracy": 0.88, "artifact_accuracy": {"onnxruntime-int8": 0.87}}
    assert summary_scores(old) == ("accuracy", 0.9, 0.88, {"onnxruntime-int8": 0.87})
    new = {"metric": "f1", "teacher_score": 0.5, "student_score": 0.47, "artifact_score": {}}
    assert summary_scores(new) == ("f1", 0.5, 0.47, {})
