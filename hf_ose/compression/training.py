"""Compress's training stages: the teacher, the search and the pick, the inherited and distilled student, and
its Agora fine-tune. Each takes the run's settings and its stage folder, resumes from what that folder holds,
and returns the JSON outputs the ledger records (paths relative to the run folder)."""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from typing import Any

from datasets import Dataset
from transformers import (AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding,
                          TrainingArguments)
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from ..agora.arguments import AgoraArguments
from ..agora.metrics import accuracy_metric
from ..agora.report import AgoraReport
from ..agora.trainer import AgoraTrainer
from ..distillation import DistillationLoss, DistillationTrainer
from ..extractor import Objectives, OSEExtractor
from ..finetune import last_complete_checkpoint
from ..front import ParetoFront
from ..inheritance import extract_model
from ..latency import LatencySettings
from ..tasks import Task
from .settings import CompressSettings

#: Options every fine-tune of a compress run shares: CPU, no hub, no logging integrations.
_COMMON: dict[str, Any] = {"use_cpu": True, "report_to": "none", "per_device_eval_batch_size": 64,
                           "save_total_limit": 1, "logging_steps": 50}


def train_teacher_stage(settings: CompressSettings, task: Task, folder: Path) -> dict[str, Any]:
    """The parent with a classification head, fine-tuned on the task (or the given ``--teacher``, scored)."""
    from ..agora.teacher import train_teacher

    if settings.teacher is not None:
        model = AutoModelForSequenceClassification.from_pretrained(settings.teacher)
        tokenizer = AutoTokenizer.from_pretrained(settings.teacher)
        model.save_pretrained(folder / "model")
        tokenizer.save_pretrained(folder / "model")
        return {"model": f"{folder.name}/model", "given": True}
    args = AgoraArguments(output_dir=str(folder / "model"), num_train_epochs=settings.teacher_epochs,
                          learning_rate=5e-5, per_device_train_batch_size=32, seed=settings.seed,
                          agora_max_length=settings.max_length, **_checkpoints(settings), **_COMMON)
    train_teacher(settings.parent, task, folder / "model", args=args, resume=True)
    _remove_checkpoints(folder / "model")
    report = AgoraReport.load(folder / "model" / "agora_report.json")
    return {"model": f"{folder.name}/model", "given": False, "dev_accuracy": report.dev_score}


def search_stage(settings: CompressSettings, folder: Path, progress: bool = True) -> dict[str, Any]:
    """The parent's own space searched with the FPTAS (resumes from ``folder/cache``); the front saved."""
    objectives = Objectives(latency=LatencySettings(threads=settings.threads, on_noise="warn"),
                            latency_samples=settings.latency_samples)
    extractor = OSEExtractor(settings.parent, epsilon=settings.epsilon, objectives=objectives,
                             cache_dir=folder / "cache")
    front = extractor.extract(progress=progress)
    front.to_json(folder / "front.json")
    return {"front": f"{folder.name}/front.json", "points": len(front), "candidates": len(extractor.space)}


def pick_stage(settings: CompressSettings, front_path: Path, folder: Path) -> dict[str, Any]:
    """The point of the front within the budget (lowest error; the fastest with an error budget)."""
    front = ParetoFront.from_json(front_path)
    point = front.choose(**settings.budget.limits())
    point.config.save_pretrained(folder / "config")
    index = front.points.index(point)
    return {"config": f"{folder.name}/config", "index": index, "architecture": str(point.architecture),
            "params": point.params, "predicted_speedup": point.speedup(front.reference),
            "criterion": settings.budget.criterion()}


def student_stage(settings: CompressSettings, task: Task, teacher_dir: Path, config_dir: Path,
                  folder: Path) -> dict[str, Any]:
    """The chosen point inherited from the teacher with a calibration batch of training text, then distilled
    from it on the training text for ``distill_steps`` (checkpointed: a killed stage resumes)."""
    teacher = AutoModelForSequenceClassification.from_pretrained(teacher_dir)
    tokenizer = AutoTokenizer.from_pretrained(teacher_dir)
    columns = [list(task.train[column]) for column in task.text_columns]
    calibration = tokenizer(*[column[:64] for column in columns], padding=True, truncation=True,
                            max_length=settings.max_length, return_tensors="pt")
    student = extract_model(teacher, config_dir, calibration)
    encoded = Dataset.from_dict(dict(tokenizer(*columns, truncation=True, max_length=settings.max_length)))
    checkpoints = folder / "checkpoints"
    args = TrainingArguments(output_dir=str(checkpoints), max_steps=settings.distill_steps, learning_rate=1e-4,
                             per_device_train_batch_size=32, save_strategy="steps",
                             save_steps=max(1, settings.distill_steps // 4), seed=settings.seed, **_COMMON)
    trainer = DistillationTrainer(model=student, args=args, teacher=teacher, train_dataset=encoded,
                                  data_collator=DataCollatorWithPadding(tokenizer),
                                  loss=DistillationLoss(relation_heads=_relation_heads(student.config, teacher.config)))
    output = trainer.train(resume_from_checkpoint=last_complete_checkpoint(checkpoints))
    student.save_pretrained(folder / "model")
    tokenizer.save_pretrained(folder / "model")
    return {"model": f"{folder.name}/model", "distill_loss": output.training_loss,
            "params": sum(p.numel() for p in student.parameters())}


def finetune_stage(settings: CompressSettings, task: Task, teacher_dir: Path, student_dir: Path,
                   folder: Path) -> dict[str, Any]:
    """The student fine-tuned with AgoraTrainer: the teacher labels the points sampled near the development
    mistakes and is distilled from on every row; the test split is scored once, at the end."""
    teacher = AutoModelForSequenceClassification.from_pretrained(teacher_dir)
    student = AutoModelForSequenceClassification.from_pretrained(student_dir)
    tokenizer = AutoTokenizer.from_pretrained(student_dir)
    args = AgoraArguments(
        output_dir=str(folder / "model"), num_train_epochs=settings.student_epochs,
        learning_rate=settings.learning_rate, per_device_train_batch_size=32, seed=settings.seed,
        metric_for_best_model="accuracy", agora_max_length=settings.max_length,
        agora_settings=[dict(setting) for setting in settings.agora_settings],
        agora_max_rounds=settings.agora_rounds, agora_samples_per_mistake=settings.samples_per_mistake,
        distill=True, **_checkpoints(settings), **_COMMON,
    )
    trainer = AgoraTrainer(model=student, args=args, train_dataset=task.train, eval_dataset=task.validation,
                           processing_class=tokenizer, compute_metrics=accuracy_metric, labeller=teacher,
                           test_dataset=task.test)
    trainer.train(resume_from_checkpoint=True)  # reuses the setting runs a killed stage finished
    _remove_checkpoints(folder / "model")
    report = trainer.agora_report
    return {"model": f"{folder.name}/model", "report": f"{folder.name}/model/agora_report.json",
            "dev_accuracy": report.dev_score, "test_accuracy": report.test_accuracy, "rounds": len(report.rounds),
            "kept_points": sum(entry.kept for entry in report.rounds)}


def _relation_heads(student: Any, teacher: Any) -> int:
    """Relation heads for the distillation loss: the most, up to 12, that divide both hidden sizes."""
    common = math.gcd(int(student.hidden_size), int(teacher.hidden_size))
    return max(heads for heads in range(1, 13) if common % heads == 0)


def _checkpoints(settings: CompressSettings) -> dict[str, Any]:
    """A checkpoint every ``checkpoint_steps`` steps, so that a killed stage resumes from it (removed when the
    stage finishes: its setting runs' records replace them)."""
    return {"save_strategy": "steps", "save_steps": settings.checkpoint_steps}


def _remove_checkpoints(output_dir: Path) -> None:
    """Remove the Trainer checkpoints of AgoraTrainer's setting runs under ``output_dir``."""
    for checkpoint in (output_dir / "agora").glob(f"round-*/setting-*/{PREFIX_CHECKPOINT_DIR}-*"):
        shutil.rmtree(checkpoint)
