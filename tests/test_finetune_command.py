"""``hf-ose finetune``: tiny real runs on the SST-2 and RTE samples (plain over seeds, distillation with LoRA,
Agora with a teacher it trains itself), what the output folder holds, and every refusal with its message."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer, BertConfig, BertModel

from hf_ose.agora.finetuning import FinetuneOptions, build_student
from hf_ose.commands import main
from hf_ose.tasks import load_task

from .conftest import TEST_DATA
from .testing_utils import slow

FAST = ["--epochs", "1", "--batch-size", "16", "--max-length", "32", "--train-rows", "32"]


def _tiny_bert(folder: Path, tokenizer_dir: Path) -> Path:
    """A tiny random BERT encoder with all-MiniLM-L6-v2's real tokenizer."""
    config = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=64, max_position_embeddings=128)
    torch.manual_seed(0)
    BertModel(config).save_pretrained(folder)
    AutoTokenizer.from_pretrained(tokenizer_dir).save_pretrained(folder)
    return folder


def _tiny_classifier(folder: Path, tokenizer_dir: Path, num_labels: int) -> Path:
    """The tiny encoder with a random ``num_labels``-class head, saved as a sequence classifier."""
    _tiny_bert(folder, tokenizer_dir)
    AutoModelForSequenceClassification.from_pretrained(folder, num_labels=num_labels).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def encoder_dir(tmp_path_factory, minilm_path) -> Path:
    return _tiny_bert(tmp_path_factory.mktemp("encoder"), minilm_path)


def _stock_test_accuracy(out: Path, task_dir: Path) -> float:
    """The test accuracy of the model in ``out`` loaded with stock transformers (pairs encoded as pairs)."""
    model = AutoModelForSequenceClassification.from_pretrained(out).eval()
    tokenizer = AutoTokenizer.from_pretrained(out)
    task = load_task(task_dir)
    texts = [list(task.test[column]) for column in task.text_columns]
    with torch.no_grad():
        logits = model(**tokenizer(*texts, padding=True, truncation=True, max_length=32, return_tensors="pt")).logits
    return float((logits.argmax(-1) == torch.tensor(task.test["label"])).float().mean())


def _report(out: Path) -> dict:
    return json.loads((out / "agora_report.json").read_text())


@slow
def test_a_plain_run_over_two_seeds_keeps_the_best_dev_seed_and_reports_every_seed(encoder_dir, sst2_dir, tmp_path,
                                                                                   capsys):
    out = tmp_path / "out"
    assert main(["finetune", str(encoder_dir), "--task", str(sst2_dir), "--seeds", "2", "--out", str(out), *FAST]) == 0
    report = _report(out)
    seeds = report["seeds"]
    assert [run["seed"] for run in seeds["runs"]] == [0, 1]
    best = max(seeds["runs"], key=lambda run: run["dev_score"])
    assert seeds["best_seed"] == best["seed"]
    assert report["test_accuracy"] == best["test_accuracy"] == _report(out / f"seed-{best['seed']}")["test_accuracy"]
    tests = [run["test_accuracy"] for run in seeds["runs"]]
    assert seeds["test_accuracy_mean"] == pytest.approx(sum(tests) / 2)
    assert seeds["test_accuracy_std"] == pytest.approx(abs(tests[0] - tests[1]) / 2 ** 0.5)
    assert len(report["rounds"]) == 1 and report["rounds"][0]["train_size"] == 32
    assert (out / "tokenizer.json").is_file()
    assert _stock_test_accuracy(out, sst2_dir) == pytest.approx(report["test_accuracy"])
    printed = capsys.readouterr().out
    assert "test accuracy over 2 seed(s): mean" in printed and f"Wrote the seed-{best['seed']} model" in printed


@slow
def test_distillation_from_a_teacher_with_lora_saves_a_merged_model_stock_transformers_loads(encoder_dir, tmp_path,
                                                                                             minilm_path):
    teacher = _tiny_classifier(tmp_path / "teacher", minilm_path, num_labels=2)
    out = tmp_path / "out"
    assert main(["finetune", str(encoder_dir), "--task", str(TEST_DATA / "rte"), "--teacher", str(teacher),
                 "--distill", "--lora", "--out", str(out), *FAST]) == 0
    assert not (out / "adapter_config.json").exists()
    model = AutoModelForSequenceClassification.from_pretrained(out)
    assert not any("lora" in name for name in model.state_dict())
    assert model.config.id2label == {0: "entailment", 1: "not_entailment"}
    assert _stock_test_accuracy(out, TEST_DATA / "rte") == pytest.approx(_report(out)["test_accuracy"])


@slow
def test_agora_without_a_teacher_fine_tunes_one_first_and_runs_the_loop(encoder_dir, sst2_dir, tmp_path, capsys):
    out = tmp_path / "out"
    settings = json.dumps([{"learning_rate": 1e-4}, {"learning_rate": 3e-4}])
    assert main(["finetune", str(encoder_dir), "--task", str(sst2_dir), "--agora", "--settings", settings,
                 "--samples-per-mistake", "1", "--out", str(out), *FAST]) == 0
    assert AutoModelForSequenceClassification.from_pretrained(out / "teacher").config.num_labels == 2
    rounds = _report(out)["rounds"]
    assert len(rounds) == 2 and len(rounds[0]["settings"]) == 2 and len(rounds[1]["settings"]) == 1
    assert rounds[0]["kept"] == rounds[0]["generated"] > 0  # no confidence floor: every generated point is kept
    assert rounds[1]["train_size"] == rounds[0]["train_size"] + rounds[0]["kept"]
    assert "No --teacher: fine-tuning" in capsys.readouterr().out


def test_a_bare_encoder_gets_a_head_with_the_tasks_labels(encoder_dir):
    task = load_task(TEST_DATA / "rte")
    student, _ = build_student(encoder_dir, task)
    assert student.config.num_labels == 2 and student.config.label2id == {"entailment": 0, "not_entailment": 1}


def test_default_agora_settings_span_the_learning_rate():
    assert FinetuneOptions(learning_rate=1e-4, agora=True).agora_settings() == [
        {"learning_rate": 5e-5}, {"learning_rate": 1e-4}, {"learning_rate": 2e-4}]


def test_a_selection_share_reaches_agoras_loop_only(tmp_path):
    options = FinetuneOptions(agora=True, selection_share=0.5)
    assert options.arguments(tmp_path, 0, "accuracy").agora_selection_share == 0.5
    assert options.arguments(tmp_path, 0, "accuracy", agora=False).agora_selection_share == 0.0  # the teacher's run


@pytest.mark.parametrize("extra, message", [
    (["--teacher", "somewhere"], "--teacher is the labeller of --agora and the source of --distill"),
    (["--seeds", "0"], "--seeds 0: give at least 1"),
    (["--max-rounds", "2"], "--max-rounds sets Agora's loop: add --agora, or drop --max-rounds"),
    (["--selection-share", "0.5"], "--selection-share sets Agora's loop: add --agora, or drop --selection-share"),
    (["--agora", "--settings", "[{not json"], "--settings '\\[{not json' is neither a JSON file nor JSON"),
    (["--agora", "--settings", "[]"], "--settings must be a non-empty JSON list of dicts"),
])
def test_bad_options_are_refused_before_any_work(encoder_dir, sst2_dir, tmp_path, capsys, extra, message):
    out = tmp_path / "out"
    assert main(["finetune", str(encoder_dir), "--task", str(sst2_dir), "--out", str(out), *extra]) == 2
    assert message.replace("\\", "") in capsys.readouterr().err
    assert not out.exists()


def test_a_non_empty_output_folder_is_refused(encoder_dir, sst2_dir, tmp_path, capsys):
    (tmp_path / "kept.txt").write_text("mine")
    assert main(["finetune", str(encoder_dir), "--task", str(sst2_dir), "--out", str(tmp_path)]) == 2
    assert "is not an empty folder: choose a new or empty folder" in capsys.readouterr().err


def test_a_task_folder_missing_a_split_is_named(encoder_dir, tmp_path, capsys):
    task = tmp_path / "task"
    task.mkdir()
    (task / "train.tsv").write_text("sentence\tlabel\ngood\t1\n")
    (task / "test.tsv").write_text("sentence\tlabel\nbad\t0\n")
    assert main(["finetune", str(encoder_dir), "--task", str(task), "--out", str(tmp_path / "out")]) == 2
    assert "has no validation file: add one of validation.tsv, validation.csv, validation.jsonl" in \
        capsys.readouterr().err


def test_a_classifier_with_another_number_of_classes_is_refused(tmp_path, minilm_path, sst2_dir, capsys):
    model = _tiny_classifier(tmp_path / "three", minilm_path, num_labels=3)
    assert main(["finetune", str(model), "--task", str(sst2_dir), "--out", str(tmp_path / "out")]) == 2
    assert "classifies 3 classes but the task sst2 has 2 (0, 1)" in capsys.readouterr().err
