"""What ``hf-ose compress`` says while it works: a numbered line per stage (or ``reused``), labelled Trainer bars,
``--quick``'s settings and ``--precision``; and one ``--quick`` run end to end on the real parent and SST-2."""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest
from datasets import Dataset
from transformers import (AutoModelForSequenceClassification, AutoTokenizer, ProgressCallback, Trainer,
                          TrainingArguments)

from hf_ose.commands import compress as compress_command
from hf_ose.compression import pipeline
from hf_ose.compression.ledger import LEDGER_NAME
from hf_ose.compression.pipeline import STAGES, compress
from hf_ose.compression.progress import REUSED, LabelledProgress, trainer_bars
from hf_ose.compression.settings import QUICK, CompressSettings, CompressSettingsError
from .testing_utils import slow

DATA = Path(__file__).with_name("data")
#: The full SST-2 (60,615 / 6,736 / 872 rows) beside the project (../shared/data), absent on a user's machine.
SHARED_SST2 = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "sst2"


@pytest.fixture
def tiny_task(tmp_path) -> Path:
    """The first 64/32/32 rows of the shipped SST-2 sample."""
    folder = tmp_path / "task"
    folder.mkdir()
    for split, rows in (("train", 64), ("validation", 32), ("test", 32)):
        lines = (DATA / "sst2" / f"{split}.tsv").read_text().splitlines()
        (folder / f"{split}.tsv").write_text("\n".join(lines[: rows + 1]) + "\n")
    return folder


@pytest.fixture
def fake_stages(monkeypatch) -> list[str]:
    """Every stage of the pipeline replaced by one that records its name and returns what later stages read."""
    ran: list[str] = []

    def stage(name: str, outputs: dict):
        def run(*args, **kwargs):
            ran.append(name)
            return outputs
        return run

    artifact = {"folder": "export/onnx", "files": ["model_quantized.onnx"]}
    for name, outputs in {
        "train_teacher_stage": {"model": "teacher/model"}, "search_stage": {"front": "search/front.json"},
        "pick_stage": {"config": "pick/config", "architecture": "D=3 A=12 H=384 I=1152", "params": 16.5e6},
        "student_stage": {"model": "student/model"}, "finetune_stage": {"model": "finetune/model"},
        "export_stage": {"artifacts": {"onnxruntime-int8": artifact}, "refused": {}}, "evaluate_stage": {},
        "bench_stage": {}, "package_stage": {"summary": {}},
    }.items():
        monkeypatch.setattr(pipeline, name, stage(name.removesuffix("_stage"), outputs))
    monkeypatch.setattr(pipeline, "export_runtimes", lambda settings: ["onnxruntime-int8", "openvino-int8"])
    return ran


def _lines(text: str) -> dict[str, str]:
    """The stage lines of ``text``, ``[k/N] stage`` -> what it says."""
    return dict(re.findall(r"^(\[\d+/\d+\] \w+): (.*)$", text, flags=re.MULTILINE))


def test_each_stage_says_what_it_does_and_a_rerun_says_reused(tiny_task, tmp_path, fake_stages, capsys):
    settings = CompressSettings(parent="minilm", task=str(tiny_task), train_rows=48, distill_steps=7)
    compress(settings, tmp_path / "out", progress=False)
    said = _lines(capsys.readouterr().err)
    assert list(said) == [f"[{k}/{len(STAGES)}] {name}" for k, name in enumerate(STAGES, 1)] and len(STAGES) == 9
    assert fake_stages == ["train_teacher", "search", "pick", "student", "finetune", "export", "evaluate", "bench",
                           "package"]
    assert said["[1/9] teacher"] == ("fine-tune minilm on task: 48 rows x 2 epochs, the best on 32 development rows "
                                     "kept")
    assert said["[4/9] student"] == "inherit D=3 A=12 H=384 I=1152 (16.5M parameters) + distil 7 steps"
    assert said["[6/9] export"].startswith("onnxruntime-int8, openvino-int8, each parity-checked")
    assert "falls back to fp32" in said["[6/9] export"]
    assert said["[7/9] evaluate"].startswith("teacher, student and onnxruntime-int8 on 32 test rows")

    compress(settings, tmp_path / "out", progress=False)
    assert set(_lines(capsys.readouterr().err).values()) == {REUSED} and len(fake_stages) == 9


def test_a_changed_setting_says_reused_before_it_and_reruns_from_its_stage(tiny_task, tmp_path, fake_stages, capsys):
    settings = CompressSettings(parent="minilm", task=str(tiny_task), train_rows=48)
    compress(settings, tmp_path / "out", progress=False)
    capsys.readouterr()
    compress(replace(settings, distill_steps=9, precision="fp32"), tmp_path / "out", progress=False)
    said = _lines(capsys.readouterr().err)
    assert [text == REUSED for text in said.values()] == [True, True, True] + [False] * 6
    assert said["[4/9] student"].endswith("+ distil 9 steps") and "falls back" not in said["[6/9] export"]
    assert fake_stages[9:] == ["student", "finetune", "export", "evaluate", "bench", "package"]


def test_talk_off_writes_no_stage_line(tiny_task, tmp_path, fake_stages, capsys):
    compress(CompressSettings(parent="minilm", task=str(tiny_task)), tmp_path / "out", progress=False, talk=False)
    assert capsys.readouterr().err == "" and len(fake_stages) == 9
    assert json.loads((tmp_path / "out" / LEDGER_NAME).read_text())["stages"].keys() == set(STAGES)


@pytest.mark.parametrize("label, rounds, folder, max_steps, epochs, epoch, described", [
    ("teacher", None, "teacher/model/agora/round-0/setting-0", -1, 2.0, 1.0, "teacher epoch 2/2"),
    ("distil", None, "student/checkpoints", 200, 3.0, 0.0, "distil steps"),
    ("agora", 2, "finetune/model/agora/round-1/setting-0", -1, 3.0, 0.0, "agora round 2/2, setting 1, epoch 1/3"),
    ("agora", 3, "finetune/model/agora/round-0/setting-1", -1, 0.5, 0.2, "agora round 1/3, setting 2, epoch 1/1"),
])
def test_a_trainer_bar_says_what_it_counts(label, rounds, folder, max_steps, epochs, epoch, described):
    args = SimpleNamespace(output_dir=f"/runs/out/{folder}", max_steps=max_steps, num_train_epochs=epochs)
    assert LabelledProgress(label, rounds).describe(args, SimpleNamespace(epoch=epoch)) == described


def _trainer(model_dir: Path, out: Path) -> Trainer:
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    rows = Dataset.from_dict({**tokenizer(["a fine film", "a dull film"] * 4, padding=True), "labels": [1, 0] * 4})
    args = TrainingArguments(output_dir=str(out), max_steps=2, per_device_train_batch_size=4, use_cpu=True,
                             report_to="none", save_strategy="no", logging_steps=1, disable_tqdm=False)
    return Trainer(model=AutoModelForSequenceClassification.from_pretrained(model_dir), args=args, train_dataset=rows)


def test_trainers_made_inside_trainer_bars_show_the_labelled_bar_only(tiny_classifier_dir, tmp_path, capsys):
    with trainer_bars("distil") as bar:
        trainer = _trainer(tiny_classifier_dir, tmp_path / "a")
    bars = [callback for callback in trainer.callback_handler.callbacks if isinstance(callback, ProgressCallback)]
    assert bars == [bar]
    trainer.train()
    err = capsys.readouterr().err
    assert "distil steps: 100%" in err and "loss=" in err and "{'loss'" not in err
    with trainer_bars("distil", show=False):
        quiet = _trainer(tiny_classifier_dir, tmp_path / "b")
    assert not [callback for callback in quiet.callback_handler.callbacks if isinstance(callback, ProgressCallback)]
    quiet.train()
    assert "distil" not in capsys.readouterr().err
    after = _trainer(tiny_classifier_dir, tmp_path / "c")  # the default bar is back
    assert [type(callback) for callback in after.callback_handler.callbacks][-1] is ProgressCallback


def _parsed(*options: str) -> CompressSettings:
    parser = argparse.ArgumentParser()
    compress_command.add_parser(parser.add_subparsers())
    return compress_command._settings(parser.parse_args(["compress", "p", "--task", "t", "--out", "o", *options]))


def test_quick_is_a_small_run_with_one_backend_and_options_given_override_it():
    quick = _parsed("--quick")
    assert quick == CompressSettings.quick("p", "t") and quick.runtime == "onnxruntime-int8"
    assert {name: getattr(quick, name) for name in QUICK} == QUICK
    assert (quick.train_rows, quick.validation_rows, quick.test_rows, quick.distill_steps) == (512, 128, 128, 20)
    assert _parsed("--quick", "--precision", "fp32").runtime == "onnxruntime"
    given = _parsed("--quick", "--distill-steps", "5", "--runtime", "openvino-int8", "--train-rows", "0")
    assert (given.distill_steps, given.runtime, given.train_rows, given.test_rows) == (5, "openvino-int8", None, 128)
    assert _parsed() == CompressSettings(parent="p", task="t")  # no option given: the settings' own defaults


def test_precision_and_runtime_must_agree_naming_the_fix():
    assert _parsed("--precision", "fp32", "--runtime", "openvino").runtime == "openvino"
    with pytest.raises(CompressSettingsError, match=r"runtime='openvino-int8' runs int8 artifacts, not "
                                                    r"precision='fp32': choose one of onnxruntime, openvino"):
        _parsed("--precision", "fp32", "--runtime", "openvino-int8")
    with pytest.raises(CompressSettingsError, match="choose one of onnxruntime-int8, openvino-int8"):
        CompressSettings(parent="p", task="t", runtime="onnxruntime")
    with pytest.raises(CompressSettingsError, match="precision='int4': choose one of fp32, int8"):
        CompressSettings(parent="p", task="t", precision="int4")
    with pytest.raises(CompressSettingsError, match="test_rows=3: give at least 8 rows"):
        CompressSettings(parent="p", task="t", test_rows=3)


@slow
def test_quick_runs_every_stage_on_the_real_parent_and_resumes_saying_reused(minilm_path, tmp_path):
    if not SHARED_SST2.is_dir():
        pytest.skip(f"the full SST-2 is not at {SHARED_SST2} (../shared/data/sst2 beside the project)")
    command = [sys.executable, "-m", "hf_ose.commands", "compress", str(minilm_path), "--task", str(SHARED_SST2),
               "--out", str(tmp_path / "out"), "--quick"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=1200)
    seconds = time.perf_counter() - started
    assert done.returncode == 0, done.stderr[-3000:]
    said = _lines(done.stderr)
    assert list(said) == [f"[{k}/9] {name}" for k, name in enumerate(STAGES, 1)]
    assert said["[1/9] teacher"].startswith(f"fine-tune {minilm_path} on sst2: 512 rows x 1 epoch, the best on 128")
    assert said["[6/9] export"].startswith("onnxruntime-int8, each parity-checked")
    assert "teacher epoch 1/1" in done.stderr and "distil steps" in done.stderr
    assert "agora round 1/2, setting 2, epoch 1/1" in done.stderr and "agora round 2/2, setting 1" in done.stderr
    rounds = json.loads((tmp_path / "out" / "finetune" / "model" / "agora_report.json").read_text())["rounds"]
    assert len(rounds) == 2 and rounds[0]["generated"] > 0  # the second round trained on generated points
    model = tmp_path / "out" / "package" / "model"
    summary = json.loads((model / "compress_report.json").read_text())["summary"]
    assert summary["test_rows"] + summary["test_rows_left_out"] == 128 and summary["dev_rows"] == 128
    assert summary["runtime"] in {"onnxruntime-int8", "onnxruntime", None}
    assert (summary["runtime"] == "onnxruntime-int8") == (summary["notes"] == [])  # any fallback is explained
    assert all(note in (model / "README.md").read_text() for note in summary["notes"])
    assert (model / "config.json").is_file() and "Stage wall times" in done.stdout
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    stages = json.loads((tmp_path / "out" / LEDGER_NAME).read_text())["stages"]
    times = ", ".join(f"{name} {stage['seconds']:.0f} s" for name, stage in stages.items())
    print(f"hf-ose compress --quick: {seconds:.0f} s wall, {used.ru_utime + used.ru_stime:.0f} CPU s; shipped "
          f"{summary['runtime']}; stages: {times}")

    again = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    assert set(_lines(again.stderr).values()) == {REUSED} and len(_lines(again.stderr)) == 9
