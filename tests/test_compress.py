"""``hf-ose compress`` on a tiny parent and real SST-2 rows: the whole run, and a run killed with SIGKILL in the
search, the fine-tuning and the export that finishes on re-run, reusing every finished stage unchanged."""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer, BertConfig, BertModel

from hf_ose.budgets import Budget, BudgetError
from hf_ose.compression import delivery, pipeline
from hf_ose.compression.delivery import format_summary, shipped_runtime, wilson_lower_bound
from hf_ose.commands import compress as compress_command
from hf_ose.compression.ledger import LEDGER_NAME, StageLedger, StageLedgerError
from hf_ose.compression.pipeline import compress, pick_stage
from hf_ose.compression.settings import CompressSettings, CompressSettingsError
from hf_ose.export import ParityError
from hf_ose.export.bench import ARTIFACT_FILES
from hf_ose.tasks import TaskError, load_task
from .testing_utils import slow

SCRIPT = Path(__file__).with_name("compress_run_script.py")
DATA = Path(__file__).with_name("data")


@pytest.fixture(scope="module")
def tiny_parent(tmp_path_factory, minilm_path) -> Path:
    """A 4-layer, 64-wide BERT with the real parent's tokenizer."""
    folder = tmp_path_factory.mktemp("parent")
    torch.manual_seed(0)
    config = BertConfig(vocab_size=30522, hidden_size=64, num_hidden_layers=4, num_attention_heads=4,
                        intermediate_size=256, max_position_embeddings=128)
    BertModel(config).save_pretrained(folder)
    AutoTokenizer.from_pretrained(minilm_path).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def tiny_task(tmp_path_factory) -> Path:
    """The first 96/48/48 rows of the shipped SST-2 sample."""
    folder = tmp_path_factory.mktemp("task")
    for split, rows in (("train", 96), ("validation", 48), ("test", 48)):
        lines = (DATA / "sst2" / f"{split}.tsv").read_text().splitlines()
        (folder / f"{split}.tsv").write_text("\n".join(lines[: rows + 1]) + "\n")
    return folder


def _run(parent: Path, task: Path, out: Path, kill_at: str | None = None) -> subprocess.CompletedProcess:
    command = [sys.executable, str(SCRIPT), str(parent), str(task), str(out), *([kill_at] if kill_at else [])]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=900)


def _finished(out: Path) -> dict[str, str]:
    stages = json.loads((out / LEDGER_NAME).read_text())["stages"]
    return {name: record["finished_at"] + record["fingerprint"] for name, record in stages.items()}


@slow
def test_a_run_killed_in_search_finetune_and_export_finishes_reusing_what_was_done(tiny_parent, tiny_task, tmp_path):
    out = tmp_path / "out"
    killed = _run(tiny_parent, tiny_task, out, "search")
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    teacher_weights = (out / "teacher" / "model" / "model.safetensors").read_bytes()
    cache = (out / "search" / "cache")
    measured = sorted(cache.rglob("*"))
    assert set(_finished(out)) == {"teacher"}

    killed = _run(tiny_parent, tiny_task, out, "finetune")
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    done = _finished(out)
    assert set(done) == {"teacher", "search", "pick", "student"}
    first_run = next((out / "finetune").rglob("run.json"))
    first_run_written = first_run.stat().st_mtime_ns

    interrupted = out / "finetune" / "model" / "agora" / "round-0" / "setting-1"
    assert sorted(path.name for path in interrupted.glob("checkpoint-*")) == ["checkpoint-1", "checkpoint-2"]
    assert not (interrupted / "checkpoint-2" / "trainer_state.json").exists()  # killed while saving it

    killed = _run(tiny_parent, tiny_task, out, "export")
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert {k: v for k, v in _finished(out).items() if k in done} == done  # finished stages reused unchanged
    assert first_run.stat().st_mtime_ns == first_run_written  # the interrupted fine-tune resumed: run reused
    assert killed.stdout.count("RESUMED") == 1 and str(interrupted / "checkpoint-1") in killed.stdout
    assert not list((out / "finetune").rglob("checkpoint-*"))  # removed once the stage finished
    kept = [path for path in (out / "export").rglob("export_report.json")]
    assert len(kept) == 1
    artifact_written = {p: p.stat().st_mtime_ns for p in kept[0].parent.iterdir()}

    finished = _run(tiny_parent, tiny_task, out)
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert {p: p.stat().st_mtime_ns for p in kept[0].parent.iterdir()} == artifact_written
    assert (out / "teacher" / "model" / "model.safetensors").read_bytes() == teacher_weights
    assert all(path in sorted(cache.rglob("*")) for path in measured)
    all_done = _finished(out)
    assert {k: v for k, v in all_done.items() if k in done} == done

    again = _run(tiny_parent, tiny_task, out)  # nothing left to do: every stage reused
    assert again.returncode == 0 and _finished(out) == all_done
    times = re.search(r"Stage wall times: (.*); ([\d.]+) min in all", again.stdout)
    assert times and [part.split()[0] for part in times.group(1).split(", ")] == list(all_done)
    model_dir = out / "package" / "model"
    summary = json.loads((model_dir / "compress_report.json").read_text())["summary"]
    model = AutoModelForSequenceClassification.from_pretrained(model_dir)
    assert sum(p.numel() for p in model.parameters()) == summary["params"] <= 2.15e6
    assert summary["test_rows"] == 48 and set(summary["artifact_agreement"]) == set(summary["artifact_ms"])
    assert set(summary["artifact_dev_agreement"]) == set(summary["artifact_ms"]) and summary["test_rows_left_out"] == 0
    assert summary["runtime"] == shipped_runtime(summary["artifact_ms"], {"dev_rows": summary["dev_rows"], **{
        runtime: {"dev_agreement": value} for runtime, value in summary["artifact_dev_agreement"].items()}}, 0.99)
    from huggingface_hub import ModelCard

    card = ModelCard.load(model_dir / "README.md")
    assert "hf-ose" in card.data.tags and str(tmp_path) not in card.text
    assert (model_dir / "front.png").is_file() and not (model_dir / "agora").exists()


def test_the_shipped_runtime_is_the_fastest_that_agrees_with_the_student_on_the_development_split():
    ms = {"onnxruntime-int8": 3.4, "openvino-int8": 3.6}
    evaluation = {"dev_rows": 1000, "onnxruntime-int8": {"dev_agreement": 0.991},
                  "openvino-int8": {"dev_agreement": 0.997}}
    assert shipped_runtime(ms, evaluation, 0.99) == "openvino-int8"  # 99.1% of 1,000 rows: not surely >= 99%
    assert shipped_runtime(ms, evaluation, 0.98) == "onnxruntime-int8"  # both agree enough: the fastest
    assert shipped_runtime(ms, {**evaluation, "dev_rows": 100_000}, 0.99) == "onnxruntime-int8"
    assert shipped_runtime(ms, evaluation, 0.995) == "openvino-int8"  # none agrees enough: the most agreeing
    assert shipped_runtime({}, {"dev_rows": 10}, 0.99) is None
    small = {"dev_rows": 139, "onnxruntime-int8": {"dev_agreement": 1.0}, "openvino-int8": {"dev_agreement": 1.0}}
    assert shipped_runtime({"openvino-int8": 3.0, "onnxruntime-int8": 3.2}, small, 0.99) == "openvino-int8"
    assert wilson_lower_bound(0.5, 100) == pytest.approx(0.5 - 1.645 * 0.05, abs=2e-3)


def test_the_summary_table_marks_the_shipped_runtime_and_compares_with_parent_and_teacher():
    summary = {"cpu": "cpu", "threads": 2, "batch_size": 1, "seq_len": 128, "test_rows": 1383, "task": "rte",
               "test_rows_left_out": 1, "parent_ms": 20.0, "teacher_accuracy": 0.6, "architecture": "D=3 A=12",
               "student_ms": 8.0, "student_accuracy": 0.57, "runtime": "openvino-int8", "params": 16.5e6,
               "artifact_ms": {"onnxruntime-int8": 3.2, "openvino-int8": 4.0},
               "artifact_accuracy": {"onnxruntime-int8": 0.54, "openvino-int8": 0.57},
               "artifact_agreement": {"onnxruntime-int8": 0.95, "openvino-int8": 0.995},
               "min_agreement": 0.99, "dev_rows": 139}
    lines = format_summary(summary).splitlines()
    assert "1383 rows of rte (1 repeating a development row left out)" in lines[0]
    assert lines[3].split() == ["student", "D=3", "A=12", "(PyTorch", "fp32)", "8.00", "2.50x", "57.00%", "95.0%"]
    assert lines[4].split() == ["student", "onnxruntime-int8", "3.20", "6.25x", "54.00%", "90.0%", "95.00%"]
    assert lines[5].split()[:3] == ["student", "openvino-int8", "*"] and "of the predictions on 139 development rows" in lines[6]


class FakeExport:
    """``export`` that fails parity for the (backend, precision) pairs in ``failing`` and otherwise writes the
    artifact file that precision's runtime runs; records every call."""

    def __init__(self, *failing: tuple[str, str]) -> None:
        self.failing, self.calls = set(failing), []

    def __call__(self, model_dir, target, *, backend, precision, calibration):
        self.calls.append((backend, precision))
        if (backend, precision) in self.failing:
            raise ParityError(f"The {backend} {precision} artifact failed parity: prediction agreement 96.88% < 98.00%")
        target.mkdir(parents=True, exist_ok=True)
        name = next(name for name, kind in ARTIFACT_FILES.items() if kind == (backend, precision))
        (target / name).write_text("graph")
        return SimpleNamespace(files=[target / name], parity=SimpleNamespace(to_dict=lambda: {"passed": True}))


def _export_with(monkeypatch, tiny_task, folder, fake: FakeExport, **options):
    monkeypatch.setattr(delivery, "export", fake)
    monkeypatch.setattr(delivery, "_installed", lambda backend: True)
    settings = CompressSettings(parent="p", task="t", **options)
    return settings, delivery.export_stage(settings, load_task(tiny_task), folder, folder / "export")


def test_an_int8_artifact_failing_parity_falls_back_to_its_backends_fp32_artifact(tiny_task, tmp_path, monkeypatch):
    fake = FakeExport(("onnx", "int8"))
    settings, outputs = _export_with(monkeypatch, tiny_task, tmp_path, fake)
    assert fake.calls == [("onnx", "int8"), ("onnx", "fp32"), ("openvino", "int8")]
    assert list(outputs["artifacts"]) == ["onnxruntime", "openvino-int8"]
    assert list(outputs["refused"]) == ["onnxruntime-int8"] and "96.88%" in outputs["refused"]["onnxruntime-int8"]
    assert outputs["artifacts"]["onnxruntime"]["files"] == ["model.onnx"]
    assert delivery.artifact_file(tmp_path / "export" / "onnx", "onnxruntime").is_file()
    notes = delivery.delivery_notes("int8", outputs["artifacts"], outputs["refused"])
    assert len(notes) == 1 and notes[0].startswith("The onnxruntime-int8 artifact failed its parity check")
    assert "the onnxruntime artifact (fp32), which passed its own, ships in its place" in notes[0]


def test_a_runtime_asked_for_by_name_falls_back_too_and_with_every_artifact_failing_the_student_ships(
        tiny_task, tmp_path, monkeypatch):
    fake = FakeExport(("openvino", "int8"))
    _, outputs = _export_with(monkeypatch, tiny_task, tmp_path / "a", fake, runtime="openvino-int8")
    assert fake.calls == [("openvino", "int8"), ("openvino", "fp32")] and list(outputs["artifacts"]) == ["openvino"]
    fake = FakeExport(*((backend, precision) for backend in ("onnx", "openvino") for precision in ("int8", "fp32")))
    _, outputs = _export_with(monkeypatch, tiny_task, tmp_path / "b", fake)
    assert outputs["artifacts"] == {}
    assert list(outputs["refused"]) == ["onnxruntime-int8", "onnxruntime", "openvino-int8", "openvino"]
    notes = delivery.delivery_notes("int8", outputs["artifacts"], outputs["refused"])
    assert len(notes) == 1 and notes[0].startswith("No ONNX Runtime or OpenVINO artifact ships: none passed")
    assert "onnxruntime: The onnx fp32 artifact failed parity" in notes[0]


def test_precision_fp32_exports_fp32_only_and_a_failure_leaves_the_artifact_out(tiny_task, tmp_path, monkeypatch):
    fake = FakeExport(("onnx", "fp32"))
    _, outputs = _export_with(monkeypatch, tiny_task, tmp_path, fake, precision="fp32")
    assert fake.calls == [("onnx", "fp32"), ("openvino", "fp32")]
    assert list(outputs["artifacts"]) == ["openvino"] and list(outputs["refused"]) == ["onnxruntime"]
    assert delivery.delivery_notes("fp32", outputs["artifacts"], outputs["refused"]) == []  # as asked: no note


def test_a_kept_artifact_is_reused_when_the_export_stage_resumes(tiny_task, tmp_path, monkeypatch):
    fake = FakeExport(("onnx", "int8"))
    _export_with(monkeypatch, tiny_task, tmp_path, fake, runtime="onnxruntime-int8")
    (tmp_path / "export" / "onnx" / "export_report.json").write_text(json.dumps(
        {"model": "x", "artifacts": {"onnx-fp32": {"files": ["model.onnx"], "parity": {"passed": "kept"}}}}))
    fake = FakeExport(("onnx", "int8"))
    _, outputs = _export_with(monkeypatch, tiny_task, tmp_path, fake, runtime="onnxruntime-int8")
    assert fake.calls == [("onnx", "int8")]  # the int8 export is tried again; the fp32 one kept is reused
    assert outputs["artifacts"]["onnxruntime"]["parity"] == {"passed": "kept"}


def test_a_summary_with_a_fallback_names_it_and_each_refused_artifact():
    refused = {"openvino-int8": "prediction agreement 96.88% < 98.00%"}
    summary = {"cpu": "cpu", "threads": 2, "batch_size": 1, "seq_len": 128, "test_rows": 250, "task": "sst2",
               "parent_ms": 20.0, "teacher_accuracy": 0.8, "architecture": "D=3 A=12", "student_ms": 8.0,
               "student_accuracy": 0.78, "runtime": "openvino", "params": 16.5e6, "artifact_ms": {"openvino": 7.0},
               "artifact_accuracy": {"openvino": 0.78}, "artifact_agreement": {"openvino": 1.0},
               "min_agreement": 0.99, "dev_rows": 64, "artifacts_refused": refused,
               "notes": delivery.delivery_notes("int8", ["openvino"], refused)}
    table = format_summary(summary)
    assert "Not shipped, failed parity with PyTorch: openvino-int8 (prediction agreement 96.88% < 98.00%)" in table
    assert table.splitlines()[-1].startswith("The openvino-int8 artifact failed its parity check")
    assert "student openvino *" in table


def test_test_rows_repeating_a_development_row_are_left_out_with_a_warning(tiny_task, tmp_path, caplog):
    task = tmp_path / "task"
    shutil.copytree(tiny_task, task)
    repeated = (task / "validation.tsv").read_text().splitlines()[1]
    with (task / "test.tsv").open("a") as handle:
        handle.write(repeated + "\n")
    with caplog.at_level(logging.WARNING):
        loaded, left_out = pipeline._task(CompressSettings(parent="p", task=str(task)))
    assert left_out == 1 and len(loaded.test) == 48 and "1 test row(s)" in caplog.text


def test_an_unknown_task_is_refused_before_the_output_folder_is_touched(tiny_parent, tmp_path):
    with pytest.raises(TaskError):
        compress(CompressSettings(parent=str(tiny_parent), task=str(tmp_path / "nowhere")), tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_an_output_folder_holding_another_runs_stages_is_refused(tiny_parent, tiny_task, tmp_path):
    StageLedger(tmp_path / "out", {"parent": "another", "task": "rte"})
    with pytest.raises(StageLedgerError, match="another run"):
        compress(CompressSettings(parent=str(tiny_parent), task=str(tiny_task)), tmp_path / "out")


def test_a_budget_no_point_meets_names_the_closest_point(tmp_path):
    settings = CompressSettings(parent="p", task="t", budget=Budget(min_speedup=1e6))
    with pytest.raises(BudgetError, match="[Cc]losest"):
        pick_stage(settings, DATA / "front-hf-ose-0.1.0.json", tmp_path)


@pytest.mark.parametrize("options, message", [
    ({"runtime": "tensorrt"}, "onnxruntime-int8, openvino-int8"),
    ({"error": "task"}, "data-free prior"),
    ({"train_rows": 3}, "at least 8 rows"),
    ({"agora_rounds": 0}, "agora_rounds=0"),
    ({"min_agreement": 1.5}, r"min_agreement=1.5: give a share"),
    ({"checkpoint_steps": 0}, "checkpoint_steps=0"),
    ({"agreement_rows": 0}, "agreement_rows=0"),
])
def test_malformed_settings_are_refused_naming_the_fix(options, message):
    with pytest.raises(CompressSettingsError, match=message):
        CompressSettings(parent="p", task="t", **options)


def test_command_line_options_reach_the_settings():
    parser = argparse.ArgumentParser()
    compress_command.add_parser(parser.add_subparsers())
    args = parser.parse_args(["compress", "parent/", "--task", "rte", "--out", "o", "--min-speedup", "3",
                              "--train-rows", "0", "--checkpoint-steps", "25", "--min-agreement", "0.98",
                              "--runtime", "openvino-int8", "--seed", "4"])
    settings = compress_command._settings(args)
    assert (settings.parent, settings.task, settings.budget, settings.train_rows) == ("parent/", "rte",
                                                                                      Budget(min_speedup=3.0), None)
    assert (settings.checkpoint_steps, settings.min_agreement, settings.runtime, settings.seed) == (
        25, 0.98, "openvino-int8", 4)
    with pytest.raises(CompressSettingsError, match="checkpoint_steps=0"):
        compress_command._settings(parser.parse_args(["compress", "p", "--task", "t", "--out", "o", "--checkpoint-steps", "0"]))
    budget = parser.parse_args(["compress", "p", "--task", "t", "--out", "o", "--max-params", "20M",
                                "--max-latency-ms", "5", "--max-error-increase", "0.01"])
    assert compress_command._settings(budget).budget == Budget(max_params=2e7, max_latency_ms=5.0,
                                                                max_error_increase=0.01)


def test_the_training_lengths_are_command_line_options():
    parser = argparse.ArgumentParser()
    compress_command.add_parser(parser.add_subparsers())
    args = parser.parse_args(["compress", "p", "--task", "t", "--out", "o", "--train-rows", "64",
                              "--teacher-epochs", "1", "--distill-steps", "20", "--student-epochs", "0.5"])
    settings = compress_command._settings(args)
    assert (settings.train_rows, settings.teacher_epochs, settings.distill_steps, settings.student_epochs) == (
        64, 1.0, 20, 0.5)
    with pytest.raises(CompressSettingsError, match="distill_steps=0"):
        compress_command._settings(parser.parse_args(["compress", "p", "--task", "t", "--out", "o",
                                                      "--distill-steps", "0"]))
