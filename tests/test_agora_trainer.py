"""AgoraTrainer's loop on real SST-2 rows with a tiny student: the report's invariants (points come only from
development mistakes, kept points carry the labeller's labels above the floor, the training set grows by the kept
points, the test set is read only before and after the loop, each round drops the stated share), determinism,
and a clear error for each kind of bad input."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.metrics import f1_score
from transformers import AutoTokenizer, HfArgumentParser, TrainerCallback, TrainingArguments

from hf_ose import AgoraArguments, AgoraReport, AgoraTrainer
from hf_ose.agora import AgoraError, AgoraRound, Sampler, task_distillation_loss
from hf_ose.agora.rows import TEACHER_COLUMN
from hf_ose.agora.trainer import RunTrainer
from hf_ose.distillation.losses import logits_kl_loss

from .agora_support import HashLabeller, RecordingSampler, sst2_rows, tiny_student
from .testing_utils import slow

SETTINGS = [{"learning_rate": 1e-3}, {"learning_rate": 3e-4}, {"learning_rate": 1e-4}]
FLOOR = 0.7


@pytest.fixture(scope="module")
def tokenizer(minilm_path: Path):
    return AutoTokenizer.from_pretrained(minilm_path)


def _args(folder: Path, **options: Any) -> AgoraArguments:
    base = dict(output_dir=str(folder), use_cpu=True, report_to=[], disable_tqdm=True, save_strategy="no",
                per_device_train_batch_size=32, per_device_eval_batch_size=64, num_train_epochs=1, seed=3,
                logging_strategy="no")
    return AgoraArguments(**{**base, **options})


class GuardedRows(Sequence):
    """A test set that fails when read while ``armed``, and counts its reads."""

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows, self.armed, self.reads = rows, False, 0

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: Any) -> Any:
        if self.armed:
            raise AssertionError("the test set was read during the Agora loop")
        self.reads += 1
        return self.rows[index]


class ArmDuringLoop(TrainerCallback):
    """Arms the guard when any fine-tuning starts; disarms it at the loop's closing log (``agora_dev_score``).
    Records every log it sees."""

    def __init__(self, guard: GuardedRows) -> None:
        self.guard, self.logs = guard, []

    def on_train_begin(self, args, state, control, **kwargs):
        self.guard.armed = True

    def on_log(self, args, state, control, logs=None, **kwargs):
        self.logs.append(dict(logs or {}))
        if logs and "agora_dev_score" in logs:
            self.guard.armed = False


def _run(folder: Path, tokenizer, resume: bool = False,
         **options: Any) -> tuple[AgoraTrainer, RecordingSampler, GuardedRows, ArmDuringLoop]:
    guard = GuardedRows(sst2_rows("test", 40))
    callback = ArmDuringLoop(guard)
    sampler = RecordingSampler()
    arguments = dict(agora_settings=SETTINGS, agora_min_confidence=FLOOR, agora_samples_per_mistake=2)
    trainer = AgoraTrainer(model=tiny_student(tokenizer.vocab_size), args=_args(folder, **{**arguments, **options}),
                           train_dataset=sst2_rows("train", 64), eval_dataset=sst2_rows("validation", 40),
                           processing_class=tokenizer, callbacks=[callback], labeller=HashLabeller(),
                           sampler=sampler, test_dataset=guard)
    trainer.train(resume_from_checkpoint=resume or None)
    return trainer, sampler, guard, callback


@pytest.fixture(scope="module")
def run(tmp_path_factory, tokenizer):
    """Three settings, drop share 0.5: rounds of 3, 2 and 1 settings."""
    return _run(tmp_path_factory.mktemp("agora"), tokenizer)


def _predict(model, tokenizer, rows: list[dict[str, Any]]) -> np.ndarray:
    batch = tokenizer([r["sentence"] for r in rows], padding=True, truncation=True, max_length=128,
                      return_tensors="pt")
    with torch.no_grad():
        return model.eval()(**batch).logits.argmax(-1).numpy()


def test_each_round_drops_the_stated_share_of_the_ranked_settings(run) -> None:
    report = run[0].agora_report
    assert [len(r.settings) for r in report.rounds] == [3, 2, 1]
    remaining = SETTINGS
    for entry in report.rounds:
        assert sorted(map(repr, (s["setting"] for s in entry.settings))) == sorted(map(repr, remaining))
        scores = [s["score"] for s in entry.settings]
        assert scores == sorted(scores)  # eval_loss: lower is better, best first
        assert len(entry.dropped) == max(1, math.floor(0.5 * len(remaining)))
        assert entry.dropped == [s["setting"] for s in entry.settings[len(entry.settings) - len(entry.dropped):]]
        assert entry.best_setting == entry.settings[0]["setting"]
        remaining = [s for s in remaining if s not in entry.dropped]
    assert remaining == []
    assert report.metric == "eval_loss" and report.greater_is_better is False


def test_generated_points_come_only_from_development_mistakes(run, tokenizer) -> None:
    trainer, sampler, _, _ = run
    report, dev = trainer.agora_report, sst2_rows("validation", 40)
    assert len(sampler.calls) == 2  # rounds 0 and 1; the last round samples nothing
    for entry, call in zip(report.rounds, sampler.calls):
        assert call == [dev[k]["sentence"] for k in entry.mistake_indices]
        assert entry.mistakes == len(entry.mistake_indices) > 0
        assert entry.generated == 2 * entry.mistakes
        points = [json.loads(line) for line in (Path(trainer.args.output_dir) / "agora" / f"round-{entry.round}"
                                                / "points.jsonl").read_text().splitlines()]
        assert len(points) == entry.generated and {p["source"] for p in points} <= set(entry.mistake_indices)
    # the mistakes are the best model's: recompute them with the model train() returned
    best = report.rounds[report.best_round]
    predicted = _predict(trainer.model, tokenizer, dev)
    assert best.mistake_indices == [k for k, row in enumerate(dev) if predicted[k] != row["label"]]
    assert report.dev_score == best.settings[0]["score"]


def test_kept_points_carry_the_labellers_labels_and_meet_the_floor(run) -> None:
    trainer, sampler, _, _ = run
    report, labeller = trainer.agora_report, HashLabeller()
    expected_points, expected_labels = [], []
    for entry, call in zip(report.rounds, sampler.calls):
        seed = trainer.args.seed + entry.round
        generated = [p for point in call for p in (f"{point} really{seed}", f"so{seed} {point}")]
        probabilities = labeller.probabilities(generated)
        keep = probabilities.max(axis=1) >= FLOOR
        assert 0 < entry.kept == keep.sum() < entry.generated  # the floor kept some and refused some
        expected_points += [p for p, k in zip(generated, keep) if k]
        expected_labels += list(probabilities.argmax(axis=1)[keep])
    final = trainer.agora_train_split
    assert final.points[64:] == expected_points and final.labels[64:] == expected_labels


def test_training_set_grows_by_exactly_the_kept_points(run) -> None:
    trainer = run[0]
    rounds = trainer.agora_report.rounds
    assert rounds[0].train_size == 64
    for before, after in zip(rounds, rounds[1:]):
        assert after.train_size == before.train_size + before.kept
    assert len(trainer.agora_train_split) == rounds[-1].train_size + rounds[-1].kept
    assert rounds[-1].kept == 0 and rounds[-1].notes


def test_the_test_set_is_read_only_after_the_loop_by_the_best_model(run, tokenizer) -> None:
    trainer, _, guard, callback = run
    assert guard.reads > 0 and not guard.armed  # read (checks before, score after) and never while armed
    test = sst2_rows("test", 40)
    accuracy = float(np.mean(_predict(trainer.model, tokenizer, test) == [r["label"] for r in test]))
    assert trainer.agora_report.test_accuracy == pytest.approx(accuracy)
    assert trainer.agora_report.test_metrics["test_accuracy"] == trainer.agora_report.test_accuracy
    assert callback.logs[-1] == {**trainer.agora_report.test_metrics, "epoch": 0}
    # no compute_metrics given: the task kind's metrics (accuracy, macro-F1); the report names the main one
    assert set(callback.logs[-1]) == {"test_accuracy", "test_macro_f1", "test_loss", "epoch"}
    predicted = _predict(trainer.model, tokenizer, test)
    assert trainer.agora_report.test_metrics["test_macro_f1"] == pytest.approx(
        f1_score([r["label"] for r in test], predicted, average="macro"))
    report = trainer.agora_report
    assert (report.test_metric_name, report.test_metric) == ("accuracy", report.test_accuracy)


def test_report_is_logged_each_round_and_saved_as_json(run) -> None:
    trainer, _, _, callback = run
    report = trainer.agora_report
    round_logs = [log for log in callback.logs if "agora_round" in log]
    assert [log["agora_round"] for log in round_logs] == [0, 1, 2]
    assert [log["agora_kept"] for log in round_logs] == [r.kept for r in report.rounds]
    saved = AgoraReport.load(trainer.args.output_dir)
    assert saved == report and saved.hf_ose_version
    assert (Path(trainer.args.output_dir) / "config.json").exists()


@slow
def test_same_seed_gives_the_same_points_and_report(run, tmp_path, tokenizer) -> None:
    again = _run(tmp_path, tokenizer)[0]
    assert again.agora_report.to_dict() == run[0].agora_report.to_dict()
    for entry in again.agora_report.rounds[:2]:
        name = Path("agora") / f"round-{entry.round}" / "points.jsonl"
        assert (tmp_path / name).read_text() == (Path(run[0].args.output_dir) / name).read_text()


@slow
def test_resuming_reuses_finished_runs_and_retrains_only_the_interrupted_one(tmp_path, tokenizer,
                                                                          monkeypatch) -> None:
    first = _run(tmp_path, tokenizer, agora_settings=SETTINGS[:2])[0]
    interrupted = tmp_path / "agora" / "round-1" / "setting-0"
    (interrupted / "run.json").unlink()  # as if killed before its run finished
    trained = []
    original = RunTrainer.train

    def counting(self, *args, **kwargs):
        trained.append(Path(self.args.output_dir))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(RunTrainer, "train", counting)
    again = _run(tmp_path, tokenizer, resume=True, agora_settings=SETTINGS[:2])[0]
    assert trained == [interrupted]
    assert again.agora_report.to_dict() == first.agora_report.to_dict()
    trained.clear()
    _run(tmp_path, tokenizer, resume=True, agora_settings=SETTINGS[1:])  # another setting: nothing to reuse
    assert len(trained) == 3


def test_held_out_selection_rows_choose_the_model_and_are_never_sampled_near(tmp_path, tokenizer) -> None:
    trainer, sampler, _, _ = _run(tmp_path, tokenizer, agora_settings=SETTINGS[:2], agora_selection_share=0.5,
                                  metric_for_best_model="accuracy", greater_is_better=True)
    report, dev = trainer.agora_report, sst2_rows("validation", 40)
    held = report.selection_rows
    assert len(held) == 20 == len(set(held)) and set(held) <= set(range(40))
    assert any("20 of the 40 development rows held out" in note for note in report.notes)
    for entry, call in zip(report.rounds, sampler.calls):
        assert entry.mistake_indices and not set(entry.mistake_indices) & set(held)
        assert call == [dev[k]["sentence"] for k in entry.mistake_indices]
    predicted = _predict(trainer.model, tokenizer, dev)
    best = report.rounds[report.best_round]
    assert best.mistake_indices == [k for k, row in enumerate(dev) if k not in held and predicted[k] != row["label"]]
    assert report.dev_score == pytest.approx(np.mean([predicted[k] == dev[k]["label"] for k in held]))
    assert AgoraReport.load(tmp_path).selection_rows == held


def test_a_selection_share_that_leaves_a_part_empty_is_refused(tmp_path, tokenizer) -> None:
    with pytest.raises(AgoraError, match="holds out 0 of the 8 rows of the development set.*both need a row"):
        _trainer(tmp_path, tokenizer, agora_selection_share=0.01).train()


def test_without_a_labeller_the_loop_is_successive_halving(tmp_path, tokenizer) -> None:
    trainer = AgoraTrainer(model=tiny_student(tokenizer.vocab_size),
                           args=_args(tmp_path, agora_settings=SETTINGS[:2], agora_drop_share=0.5),
                           train_dataset=sst2_rows("train", 32), eval_dataset=sst2_rows("validation", 16),
                           processing_class=tokenizer)
    output = trainer.train()
    report = trainer.agora_report
    assert [len(r.settings) for r in report.rounds] == [2, 1]
    assert all(r.generated == r.kept == 0 and r.train_size == 32 for r in report.rounds)
    assert any("no labeller" in note for note in report.notes) and report.test_accuracy is None
    assert output.metrics["agora_rounds"] == 2 and output.global_step == 1


class EmptySampler(Sampler):
    name = "empty"

    def sample(self, points, per_point, *, tokenizer, max_length, seed):
        return [[] for _ in points]


def test_a_sampler_that_returns_nothing_leaves_the_round_going_and_says_so(tmp_path, tokenizer) -> None:
    trainer = AgoraTrainer(model=tiny_student(tokenizer.vocab_size),
                           args=_args(tmp_path, agora_drop_share=0.0, agora_max_rounds=2),
                           train_dataset=sst2_rows("train", 32), eval_dataset=sst2_rows("validation", 16),
                           processing_class=tokenizer, labeller=HashLabeller(), sampler=EmptySampler())
    trainer.train()
    first, second = trainer.agora_report.rounds
    assert first.mistakes > 0 and first.generated == first.kept == 0
    assert any("returned nothing" in note for note in first.notes)
    assert second.train_size == first.train_size == 32


def test_sentence_pairs_flow_through_with_one_side_changed(tmp_path, tokenizer) -> None:
    def pairs(split: str, count: int) -> list[dict[str, Any]]:
        rows = sst2_rows(split, count + 1)
        return [{"sentence1": a["sentence"], "sentence2": b["sentence"], "label": a["label"]}
                for a, b in zip(rows, rows[1:])]

    sampler = RecordingSampler()
    trainer = AgoraTrainer(model=tiny_student(tokenizer.vocab_size),
                           args=_args(tmp_path, agora_drop_share=0.0, agora_max_rounds=2),
                           train_dataset=pairs("train", 32), eval_dataset=pairs("validation", 16),
                           processing_class=tokenizer, labeller=HashLabeller(), sampler=sampler)
    trainer.train()
    assert sampler.calls and all(isinstance(p, tuple) for p in sampler.calls[0])
    added = trainer.agora_train_split.points[32:]
    assert added and all(isinstance(p, tuple) and p[0] in {q[0] for q in sampler.calls[0]} for p in added)


def test_distillation_loss_weighs_cross_entropy_and_the_labellers_soft_targets() -> None:
    torch.manual_seed(0)
    logits, teacher = torch.randn(5, 3), torch.randn(5, 3)
    labels = torch.tensor([0, 2, 1, 1, 0])
    assert task_distillation_loss(logits, labels, teacher, 1.0) == pytest.approx(float(F.cross_entropy(logits, labels)))
    kl = float(logits_kl_loss(logits, teacher, temperature=2.0))
    assert task_distillation_loss(logits, labels, teacher, 0.0, 2.0) == pytest.approx(kl)
    log_probs = teacher.log_softmax(-1)  # what the trainer stores: same soft targets
    mixed = task_distillation_loss(logits, labels, log_probs, 0.25, 2.0)
    assert float(mixed) == pytest.approx(0.25 * float(F.cross_entropy(logits, labels)) + 0.75 * kl, rel=1e-5)


def test_distilling_run_trains_on_the_teacher_column(tmp_path, tokenizer) -> None:
    model = tiny_student(tokenizer.vocab_size).eval()
    trainer = RunTrainer(model=model, args=_args(tmp_path), processing_class=tokenizer, distill=(0.0, 2.0))
    batch = dict(tokenizer(["a fine film", "dull"], padding=True, return_tensors="pt"))
    teacher = torch.tensor([[-0.1, -2.4], [-3.0, -0.05]])
    loss = trainer.compute_loss(model, {**batch, "labels": torch.tensor([1, 0]), TEACHER_COLUMN: teacher})
    with torch.no_grad():
        expected = logits_kl_loss(model(**batch).logits, teacher, temperature=2.0)
    assert float(loss.detach()) == pytest.approx(float(expected), rel=1e-5)


def test_distill_trains_with_the_labellers_log_probabilities(tmp_path, tokenizer) -> None:
    trainer = AgoraTrainer(model=tiny_student(tokenizer.vocab_size),
                           args=_args(tmp_path, distill=True, distill_alpha=0.0, agora_max_rounds=1),
                           train_dataset=sst2_rows("train", 32), eval_dataset=sst2_rows("validation", 16),
                           processing_class=tokenizer, labeller=HashLabeller())
    output = trainer.train()
    assert math.isfinite(output.training_loss) and output.training_loss > 0


# ---- bad input --------------------------------------------------------------------------------------------------

def _trainer(folder: Path, tokenizer, *, train=None, dev=None, test=None, labeller=None, num_labels: int = 2,
             **options: Any) -> AgoraTrainer:
    return AgoraTrainer(model=tiny_student(tokenizer.vocab_size, num_labels=num_labels), args=_args(folder, **options),
                        train_dataset=sst2_rows("train", 16) if train is None else train,
                        eval_dataset=sst2_rows("validation", 8) if dev is None else dev,
                        processing_class=tokenizer, labeller=labeller, test_dataset=test)


@pytest.mark.parametrize("dev, message", [
    ([], "development set (eval_dataset) is empty"),
    ([{"sentence": "a fine film"}], "has no 'label' column"),
    ([{"sentence": "a fine film", "label": -1}], "unlabelled rows"),
    ([{"sentence": "a fine film", "label": "positive"}], "does not name"),
])
def test_unusable_development_sets_are_refused(tmp_path, tokenizer, dev, message) -> None:
    with pytest.raises(AgoraError, match=message.replace("(", r"\(").replace(")", r"\)")):
        _trainer(tmp_path, tokenizer, dev=dev).train()


def test_label_sets_that_differ_between_splits_are_refused(tmp_path, tokenizer) -> None:
    train = [r for r in sst2_rows("train", 40) if r["label"] == 0]
    with pytest.raises(AgoraError, match=r"labels \[1\] that the training set lacks"):
        _trainer(tmp_path, tokenizer, train=train).train()


def test_a_labeller_with_another_label_space_is_refused(tmp_path, tokenizer) -> None:
    with pytest.raises(AgoraError, match="gives 2 classes but the student has num_labels=3"):
        _trainer(tmp_path, tokenizer, labeller=HashLabeller(), num_labels=3).train()
    names = {"id2label": {0: "negative", 1: "positive"}, "label2id": {"negative": 0, "positive": 1}}
    trainer = AgoraTrainer(model=tiny_student(tokenizer.vocab_size, **names), args=_args(tmp_path),
                           train_dataset=sst2_rows("train", 16), eval_dataset=sst2_rows("validation", 8),
                           processing_class=tokenizer, labeller=HashLabeller(("positive", "negative")))
    with pytest.raises(AgoraError, match="differ from the student's id2label"):
        trainer.train()


def test_a_test_set_overlapping_the_development_set_is_refused(tmp_path, tokenizer) -> None:
    test = sst2_rows("test", 8) + sst2_rows("validation", 1)
    with pytest.raises(AgoraError, match="shares 1 point"):
        _trainer(tmp_path, tokenizer, test=test).train()


def test_distillation_without_a_labeller_is_refused(tmp_path, tokenizer) -> None:
    with pytest.raises(AgoraError, match="distill=True trains on a labeller"):
        _trainer(tmp_path, tokenizer, distill=True).train()


def test_a_metric_that_evaluation_does_not_give_is_named(tmp_path, tokenizer) -> None:
    with pytest.raises(AgoraError, match=r"asks for 'eval_pearson'.*only \['eval_accuracy', 'eval_loss', "
                                         r"'eval_macro_f1'.*compute_metrics"):
        _trainer(tmp_path, tokenizer, metric_for_best_model="pearson").train()


@pytest.mark.parametrize("options, message", [
    ({"agora_settings": []}, "agora_settings is empty"),
    ({"agora_settings": [{"learning_rate": 1e-4}, {"learning_rate": 1e-4}]}, "repeats a setting"),
    ({"agora_settings": [{"learning_rat": 1e-4}]}, r"\['learning_rat'\].*spelling"),
    ({"agora_settings": [{"agora_drop_share": 0.2}]}, "apply to the whole loop"),
    ({"agora_settings": [{"output_dir": "x"}]}, "cannot change"),
    ({"agora_drop_share": 0.0}, "set agora_max_rounds"),
    ({"agora_drop_share": 1.5}, "agora_drop_share=1.5"),
    ({"agora_min_confidence": -0.1}, "agora_min_confidence=-0.1"),
    ({"agora_selection_share": 1.0}, r"agora_selection_share=1.0: give a share in \[0, 1\)"),
    ({"agora_samples_per_mistake": 0}, "agora_samples_per_mistake=0"),
    ({"agora_text_columns": ("a", "b", "c")}, "agora_text_columns"),
    ({"distill_alpha": 2.0}, "distill_alpha=2.0"),
    ({"distill_temperature": 0.0}, "distill_temperature=0.0"),
])
def test_invalid_arguments_are_refused_with_the_field_named(tmp_path, options, message) -> None:
    with pytest.raises(AgoraError, match=message):
        _args(tmp_path, **options)


def test_arguments_apply_a_setting_and_convert_plain_training_arguments(tmp_path) -> None:
    args = _args(tmp_path, agora_settings=[{"learning_rate": 1e-4, "num_train_epochs": 3}])
    run = args.for_run(args.settings()[0], str(tmp_path / "run"))
    assert (run.learning_rate, run.num_train_epochs, run.output_dir) == (1e-4, 3, str(tmp_path / "run"))
    assert args.learning_rate == 5e-5 and args.settings() == [{"learning_rate": 1e-4, "num_train_epochs": 3}]
    plain = TrainingArguments(output_dir=str(tmp_path), use_cpu=True, report_to=[], learning_rate=2e-4)
    converted = AgoraArguments.from_training_arguments(plain)
    assert converted.learning_rate == 2e-4 and converted.settings() == [{}]


def test_arguments_parse_from_a_command_line(tmp_path) -> None:
    parser = HfArgumentParser(AgoraArguments)
    (args,) = parser.parse_args_into_dataclasses([
        "--output_dir", str(tmp_path), "--use_cpu", "--report_to", "none", "--agora_text_columns", "sentence1",
        "sentence2", "--agora_drop_share", "0.25", "--distill", "--agora_max_rounds", "3"])
    assert args.agora_text_columns == ("sentence1", "sentence2") and args.agora_drop_share == 0.25
    assert args.distill and args.agora_max_rounds == 3 and args.settings() == [{}]


def test_report_round_trips_and_stores_no_nan(tmp_path) -> None:
    entry = AgoraRound(round=0, settings=[{"setting": {"learning_rate": 1e-4}, "score": float("nan")}],
                       best_setting={"learning_rate": 1e-4}, train_size=10, mistakes=1, mistake_indices=[3])
    report = AgoraReport(metric="eval_loss", greater_is_better=False, rounds=[entry], dev_score=float("nan"))
    path = report.save(tmp_path)
    data = json.loads(path.read_text())
    assert data["dev_score"] is None and data["rounds"][0]["settings"][0]["score"] is None
    assert data["test_accuracy"] is None and data["rounds"][0]["mistake_indices"] == [3]
    assert AgoraReport.load(path).rounds[0].best_setting == {"learning_rate": 1e-4}
