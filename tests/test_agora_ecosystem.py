"""AgoraTrainer with the rest of the ecosystem: a PEFT LoRA student (trains, saves merged, keeps its adapter),
``datasets.Dataset`` inputs, an ``evaluate`` metric loaded from a local script, checkpoints,
``load_best_model_at_end`` and logging, a two-process launch on CPU (gloo), and one tiny run of the real parent."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from datasets import Dataset
from transformers import AutoModelForSequenceClassification, AutoTokenizer, TrainerCallback

from hf_ose import AgoraArguments, AgoraReport, AgoraTrainer
from hf_ose.agora import merge_lora

from .agora_support import HashLabeller, sst2_rows, tiny_student
from .testing_utils import slow

ROOT = Path(__file__).resolve().parent.parent
METRIC = Path(__file__).resolve().parent / "metrics" / "agora_accuracy"


@pytest.fixture(scope="module")
def tokenizer(minilm_path: Path):
    return AutoTokenizer.from_pretrained(minilm_path)


def _args(folder: Path, **options: Any) -> AgoraArguments:
    base = dict(output_dir=str(folder), use_cpu=True, report_to=[], disable_tqdm=True, save_strategy="no",
                per_device_train_batch_size=32, per_device_eval_batch_size=64, num_train_epochs=1,
                logging_strategy="no")
    return AgoraArguments(**{**base, **options})


def _logits(model, tokenizer, rows: list[dict[str, Any]]) -> torch.Tensor:
    batch = tokenizer([r["sentence"] for r in rows], padding=True, return_tensors="pt")
    with torch.no_grad():
        return model.eval()(**batch).logits


@slow
def test_lora_student_trains_saves_merged_and_keeps_its_adapter(tmp_path, tokenizer) -> None:
    from peft import LoraConfig, PeftModel, get_peft_model

    config = LoraConfig(task_type="SEQ_CLS", r=4, lora_alpha=8, target_modules=["query", "value"])
    student = get_peft_model(tiny_student(tokenizer.vocab_size), config)
    base_query = student.base_model.model.bert.encoder.layer[0].attention.self.query.base_layer.weight.clone()
    trainer = AgoraTrainer(model=student, args=_args(tmp_path, learning_rate=1e-2, num_train_epochs=2),
                           train_dataset=sst2_rows("train", 64), eval_dataset=sst2_rows("validation", 16),
                           processing_class=tokenizer)
    trainer.train()
    trained = trainer.model
    assert isinstance(trained, PeftModel)
    query = trained.base_model.model.bert.encoder.layer[0].attention.self.query
    assert torch.equal(query.base_layer.weight, base_query)  # the base stays frozen
    assert query.lora_B["default"].weight.abs().sum() > 0  # LoRA's B starts at zero: it trained
    rows = sst2_rows("test", 8)
    expected = _logits(trained, tokenizer, rows)
    merged = merge_lora(trained)
    assert not isinstance(merged, PeftModel) and isinstance(trainer.model, PeftModel)
    torch.testing.assert_close(_logits(merged, tokenizer, rows), expected, atol=1e-5, rtol=1e-4)
    stock = AutoModelForSequenceClassification.from_pretrained(tmp_path)
    torch.testing.assert_close(_logits(stock, tokenizer, rows), expected, atol=1e-5, rtol=1e-4)
    adapter = PeftModel.from_pretrained(tiny_student(tokenizer.vocab_size), tmp_path / "adapter")
    torch.testing.assert_close(_logits(adapter, tokenizer, rows), expected, atol=1e-5, rtol=1e-4)


class Logs(TrainerCallback):
    def __init__(self) -> None:
        self.logs: list[dict[str, Any]] = []

    def on_log(self, args, state, control, logs=None, **kwargs):
        self.logs.append(dict(logs or {}))


@slow
def test_evaluate_metric_checkpoints_best_model_at_end_and_logging(tmp_path, tokenizer) -> None:
    import evaluate

    metric = evaluate.load(str(METRIC))

    def compute_metrics(prediction) -> dict[str, float]:
        return metric.compute(predictions=np.argmax(prediction.predictions, axis=-1), references=prediction.label_ids)

    logs = Logs()
    args = _args(tmp_path, num_train_epochs=2, learning_rate=5e-3, eval_strategy="epoch", save_strategy="epoch",
                 load_best_model_at_end=True, metric_for_best_model="accuracy", logging_strategy="steps",
                 logging_steps=1, agora_settings=[{"seed": 1}, {"seed": 2}], agora_max_rounds=1)
    dev = sst2_rows("validation", 32)
    trainer = AgoraTrainer(model=tiny_student(tokenizer.vocab_size), args=args,
                           train_dataset=Dataset.from_list(sst2_rows("train", 64)), eval_dataset=Dataset.from_list(dev),
                           processing_class=tokenizer, compute_metrics=compute_metrics, callbacks=[logs])
    trainer.train()
    report = trainer.agora_report
    assert (report.metric, report.greater_is_better) == ("eval_accuracy", True)
    scores = [s["score"] for s in report.rounds[0].settings]
    assert scores == sorted(scores, reverse=True)
    checkpoints = sorted(p.name for p in (tmp_path / "agora" / "round-0" / "setting-0").glob("checkpoint-*"))
    assert checkpoints == ["checkpoint-2", "checkpoint-4"]
    assert sum("loss" in log and "eval_loss" not in log for log in logs.logs) == 4 * 2  # every step of both runs
    accuracy = float(np.mean(_logits(trainer.model, tokenizer, dev).argmax(-1).numpy() == [r["label"] for r in dev]))
    assert report.dev_score == pytest.approx(accuracy)
    assert any(log.get("agora_round") == 0 for log in logs.logs)
    # each run's closing evaluation scores its best epoch (the first of equals), as load_best_model_at_end loads it
    runs, epochs, closing = [], [], False
    for log in logs.logs:
        if "train_runtime" in log:
            closing = True
        elif "eval_accuracy" in log:
            runs, epochs, closing = (runs + [(epochs, log)], [], False) if closing else (runs, epochs + [log], False)
    assert len(runs) == 2 and all(len(epochs) == 2 for epochs, _ in runs)
    for epochs, final in runs:
        best = next(e for e in epochs if e["eval_accuracy"] == max(x["eval_accuracy"] for x in epochs))
        assert final["eval_accuracy"] == best["eval_accuracy"]
        assert final["eval_loss"] == pytest.approx(best["eval_loss"])


@slow
def test_two_processes_with_gloo_agree_and_write_one_report(tmp_path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               str(ROOT / "tests" / "agora_ddp_script.py"), str(tmp_path)]
    launcher = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, start_new_session=True)
    try:
        _, stderr = launcher.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        os.killpg(launcher.pid, signal.SIGKILL)  # the workers too, not only the launcher
        _, stderr = launcher.communicate()
        pytest.fail(f"the two-process run did not finish in 300 s:\n{stderr[-3000:]}")
    assert launcher.returncode == 0, stderr[-3000:]
    ranks = [json.loads((tmp_path / f"rank-{r}.json").read_text()) for r in (0, 1)]
    assert ranks[0]["world_size"] == 2 and ranks[0] == {**ranks[1]}
    assert ranks[0]["global_step"] == 2  # 32 rows, 8 per process per step, 2 processes
    report = AgoraReport.load(tmp_path / "model")
    assert report.to_dict() == ranks[0]["report"]
    first = report.rounds[0]
    assert first.kept > 0 and report.rounds[1].train_size == first.train_size + first.kept
    # the gathered predictions are in dataset order: the saved best model makes exactly the recorded mistakes
    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "model")
    model = AutoModelForSequenceClassification.from_pretrained(tmp_path / "model")
    dev = sst2_rows("validation", 24)
    predicted = _logits(model, tokenizer, dev).argmax(-1).tolist()
    mistakes = [k for k, row in enumerate(dev) if predicted[k] != row["label"]]
    assert report.rounds[report.best_round].mistake_indices == mistakes


@slow
def test_real_parent_runs_the_whole_loop_with_the_token_edit_sampler(tmp_path, tokenizer, minilm_path) -> None:
    from hf_ose.agora import as_labeller

    torch.manual_seed(0)
    student = AutoModelForSequenceClassification.from_pretrained(minilm_path, num_labels=2)
    labeller = as_labeller(lambda points: HashLabeller().probabilities(points))  # a plain callable
    args = _args(tmp_path, per_device_train_batch_size=16, learning_rate=1e-4, agora_drop_share=0.0,
                 agora_max_rounds=2, agora_samples_per_mistake=1, agora_max_length=64, distill=True)
    test = sst2_rows("test", 24)
    trainer = AgoraTrainer(model=student, args=args, train_dataset=sst2_rows("train", 48),
                           eval_dataset=sst2_rows("validation", 24), processing_class=tokenizer, labeller=labeller,
                           test_dataset=test)
    trainer.train()
    first, second = trainer.agora_report.rounds
    assert first.generated > 0 and second.train_size == 48 + first.kept
    saved = AutoModelForSequenceClassification.from_pretrained(tmp_path)
    accuracy = float(np.mean(_logits(saved, tokenizer, test).argmax(-1).numpy() == [r["label"] for r in test]))
    assert trainer.agora_report.test_accuracy == pytest.approx(accuracy)
    assert trainer.sampler.name == "token-edits"  # built by name from agora_sampler
