"""Fine-tuning a student on a task, as ``hf-ose finetune`` does: plainly, with distillation from a teacher, with
Agora, or both (:class:`FinetuneOptions`), one seed per :func:`train_student` call; :func:`keep_best_seed` keeps the
best seed by development score. The Agora benchmark runs the same code. Also what every such fine-tuning shares:
the accuracy metric, and PEFT (LoRA) students merged for export and saved so stock transformers loads them."""

from __future__ import annotations

import copy
import json
import shutil
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from torch import nn
from transformers import (AutoConfig, AutoModelForSequenceClassification, AutoTokenizer, PreTrainedModel,
                          PreTrainedTokenizerBase, set_seed)

from ..io import atomic_write
from ..parent import resolve_model_source
from .interfaces import AgoraError, Labeller
from .records import REPORT_FILE

if TYPE_CHECKING:
    from ..tasks import Task
    from .arguments import AgoraArguments

#: Where :func:`save_for_transformers` keeps a PEFT model's adapter, inside the output folder (and what
#: :func:`keep_best_seed` copies from the best seed's folder besides its files).
ADAPTER_FOLDER = "adapter"


@dataclass(frozen=True)
class FinetuneOptions:
    """How each seed's student is fine-tuned: the ``hf-ose finetune`` options as one value."""

    agora: bool = False
    distill: bool = False
    lora: bool = False
    epochs: float = 3.0
    batch_size: int = 16
    learning_rate: float = 5e-5
    max_length: int = 128
    settings: tuple[dict[str, Any], ...] | None = None
    samples_per_mistake: int = 4
    sampler: str | None = None
    rounds: int | None = None
    min_confidence: float = 0.0
    #: An unlabelled in-domain text file: Agora's nearest-neighbour pool, and the source of ``pool_labelled`` rows.
    unlabelled: str | None = None
    pool_space: str = "teacher"
    max_points_per_round: int | None = None
    pool_labelled: int = 0

    @property
    def needs_teacher(self) -> bool:
        return self.agora or self.distill

    def agora_settings(self) -> list[dict[str, Any]]:
        """Agora's settings: those given, or by default the learning rate halved, as given and doubled."""
        if self.settings:
            return [dict(setting) for setting in self.settings]
        return [{"learning_rate": self.learning_rate * factor} for factor in (0.5, 1.0, 2.0)]

    def arguments(self, output_dir: Path, seed: int, *, distill: bool | None = None,
                  agora: bool | None = None) -> AgoraArguments:
        """The :class:`~hf_ose.agora.arguments.AgoraArguments` of one run: Agora's loop over the settings when
        ``agora``, otherwise a single fine-tuning (one setting, one round)."""
        from .arguments import AgoraArguments

        agora = self.agora if agora is None else agora
        distill = self.distill if distill is None else distill
        pool = self.unlabelled if agora or distill else None  # never the teacher's fine-tuning
        return AgoraArguments(
            output_dir=str(output_dir), seed=seed, num_train_epochs=self.epochs,
            per_device_train_batch_size=self.batch_size, per_device_eval_batch_size=64,
            learning_rate=self.learning_rate, warmup_steps=0.1, weight_decay=0.01,
            eval_strategy="no", save_strategy="no", logging_steps=50, report_to="none", dataloader_pin_memory=False,
            metric_for_best_model="accuracy", greater_is_better=True,
            agora_settings=self.agora_settings() if agora else None,
            agora_samples_per_mistake=self.samples_per_mistake, agora_sampler=self.sampler,
            agora_max_rounds=self.rounds if agora else 1, agora_min_confidence=self.min_confidence,
            agora_max_length=self.max_length, distill=distill, agora_unlabelled=pool,
            agora_pool_space=self.pool_space, agora_max_points_per_round=self.max_points_per_round,
            agora_pool_labelled=self.pool_labelled if pool else 0,
        )


@dataclass(frozen=True)
class SeedRun:
    """One seed's result: development score (the selection metric), test accuracy, rounds run, the size of the
    training set the kept model trained on (original rows plus Agora's kept points), wall time and the folder
    holding the model."""

    seed: int
    dev_score: float
    test_accuracy: float
    rounds: int
    train_size: int
    seconds: float
    output_dir: Path

    def to_dict(self) -> dict[str, Any]:
        return {"seed": self.seed, "dev_score": self.dev_score, "test_accuracy": self.test_accuracy,
                "rounds": self.rounds, "train_size": self.train_size, "seconds": round(self.seconds, 1),
                "output_dir": str(self.output_dir)}


def train_student(model: str | Path, task: Task, output_dir: Path, options: FinetuneOptions, seed: int,
                  teacher: tuple[PreTrainedModel, PreTrainedTokenizerBase] | Labeller | None = None) -> SeedRun:
    """Fine-tune ``model`` (a folder) on ``task`` under ``seed`` as ``options`` say, distilling from and
    labelling with ``teacher`` where asked; save the (merged) model, tokenizer and report in ``output_dir``."""
    from .trainer import AgoraTrainer

    if options.needs_teacher and teacher is None:
        raise AgoraError("--agora and --distill need a teacher: pass --teacher DIR, or let hf-ose fine-tune MODEL "
                         "into OUT/teacher first.")
    started = time.perf_counter()
    set_seed(seed)
    student, tokenizer = build_student(model, task, lora=options.lora)
    trainer = AgoraTrainer(
        model=student, args=options.arguments(output_dir, seed), train_dataset=task.train,
        eval_dataset=task.validation, processing_class=tokenizer, compute_metrics=accuracy_metric,
        labeller=_labeller(teacher, options) if teacher is not None else None, test_dataset=task.test,
    )
    trainer.train()
    report = trainer.agora_report
    best = next((entry for entry in report.rounds if entry.round == report.best_round), report.rounds[-1])
    return SeedRun(seed, float(report.dev_score), float(report.test_accuracy), len(report.rounds),
                   int(best.train_size), time.perf_counter() - started, Path(output_dir))


def build_student(model: str | Path, task: Task, *, lora: bool = False
                  ) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """``model`` as a sequence classifier for ``task``: a bare encoder gets a new head (from the current torch
    seed) with the task's labels; a classifier must have the task's number of classes. With ``lora``, a PEFT
    LoRA model over every linear layer, the head trained in full."""
    model = resolve_model_source(model)
    tokenizer = check_model(model, task)
    student = AutoModelForSequenceClassification.from_pretrained(
        model, num_labels=task.num_labels, id2label=task.id2label, label2id=task.label2id)
    if lora:
        from peft import LoraConfig, TaskType, get_peft_model

        student = get_peft_model(student, LoraConfig(task_type=TaskType.SEQ_CLS, r=8, lora_alpha=16,
                                                     lora_dropout=0.1, target_modules="all-linear"))
    return student, tokenizer


def check_model(model: str | Path, task: Task) -> PreTrainedTokenizerBase:
    """``model``'s tokenizer, once its folder loads and a classifier's class count fits ``task``."""
    model = resolve_model_source(model)
    with _loading(f"the model folder {model}", "pass a folder with config.json, weights and a tokenizer."):
        config = AutoConfig.from_pretrained(model)
        tokenizer = AutoTokenizer.from_pretrained(model)
    classifier = any(name.endswith("ForSequenceClassification") for name in config.architectures or ())
    if classifier and config.num_labels != task.num_labels:
        raise AgoraError(f"{model} classifies {config.num_labels} classes but the task {task.name} has "
                         f"{task.num_labels} ({', '.join(task.label_names)}): pass its bare encoder, or a "
                         f"classifier with {task.num_labels} classes.")
    return tokenizer


def keep_best_seed(runs: list[SeedRun], out: Path) -> SeedRun:
    """The run with the best development score; with several runs, its files (and LoRA adapter) are copied to
    ``out``, whose report gains every seed's figures (:func:`seed_summary`)."""
    best = max(runs, key=lambda run: run.dev_score)
    report = json.loads((best.output_dir / REPORT_FILE).read_text())
    if len(runs) > 1:
        for item in best.output_dir.iterdir():
            if item.is_file():
                shutil.copy2(item, out / item.name)
            elif item.name == ADAPTER_FOLDER:
                shutil.copytree(item, out / item.name)
    report["seeds"] = seed_summary(runs, best)
    atomic_write(out / REPORT_FILE, json.dumps(report, indent=2) + "\n")
    return best


def seed_summary(runs: list[SeedRun], best: SeedRun) -> dict[str, Any]:
    """Every seed's dev and test figures, the test accuracy's mean and spread, and the seed kept."""
    tests = [run.test_accuracy for run in runs]
    return {"runs": [run.to_dict() for run in runs], "best_seed": best.seed,
            "test_accuracy_mean": statistics.fmean(tests),
            "test_accuracy_std": statistics.stdev(tests) if len(tests) > 1 else 0.0}


def format_runs(runs: list[SeedRun], best: SeedRun, task: Task, options: FinetuneOptions) -> str:
    """The final table: one line per seed (the kept one marked ``*``), then mean and spread."""
    mode = " + ".join(name for name, on in (("Agora", options.agora), ("distillation", options.distill),
                                              ("LoRA", options.lora)) if on) or "plain fine-tuning"
    header = f"{'':2}{'seed':>4}{'dev accuracy':>14}{'test accuracy':>15}{'rounds':>8}{'train rows':>12}{'seconds':>9}"
    lines = [f"\n{task.name}, {mode}: test split {len(task.test)} rows (never used for selection)", header,
             "-" * len(header)]
    for run in runs:
        lines.append(f"{'*' if run is best else '':2}{run.seed:>4}{run.dev_score:>14.4f}{run.test_accuracy:>15.4f}"
                     f"{run.rounds:>8}{run.train_size:>12}{run.seconds:>9.0f}")
    summary = seed_summary(runs, best)
    lines.append(f"test accuracy over {len(runs)} seed(s): mean {summary['test_accuracy_mean']:.4f}, "
                 f"std {summary['test_accuracy_std']:.4f}; * kept (best dev score)")
    return "\n".join(lines)


def load_teacher(folder: str | Path, task: Task) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """A saved sequence classifier and its tokenizer, checked against the task's classes."""
    with _loading(f"the teacher {folder}", "pass a folder with a sequence classifier and its tokenizer "
                                            "(e.g. OUT/teacher of an earlier run)."):
        model = AutoModelForSequenceClassification.from_pretrained(folder)
        tokenizer = AutoTokenizer.from_pretrained(folder)
    if model.config.num_labels != task.num_labels:
        raise AgoraError(f"The teacher {folder} has {model.config.num_labels} classes but the task {task.name} has "
                         f"{task.num_labels}: pass a teacher fine-tuned on this task.")
    return model.eval(), tokenizer


def _labeller(teacher: tuple[PreTrainedModel, PreTrainedTokenizerBase] | Labeller,
              options: FinetuneOptions) -> Labeller:
    from .labellers import as_labeller

    if isinstance(teacher, Labeller):
        return teacher
    model, tokenizer = teacher
    return as_labeller(model, tokenizer=tokenizer, max_length=options.max_length)


@contextmanager
def _loading(what: str, fix: str) -> Iterator[None]:
    """Loading ``what`` from a folder: a load error becomes an :class:`AgoraError` that says ``fix``."""
    try:
        yield
    except (OSError, ValueError) as error:
        raise AgoraError(f"Cannot load {what} ({error}): {fix}") from error


def accuracy_metric(prediction: Any) -> dict[str, float]:
    """``compute_metrics`` for ``Trainer``: the share of rows whose arg-max class is the label."""
    logits = prediction.predictions[0] if isinstance(prediction.predictions, tuple) else prediction.predictions
    return {"accuracy": float((np.asarray(logits).argmax(-1) == np.asarray(prediction.label_ids)).mean())}


def is_peft_model(model: nn.Module) -> bool:
    """Whether ``model`` is a ``peft.PeftModel`` (checked without importing peft for plain models)."""
    try:
        from peft import PeftModel
    except ImportError:  # peft is a dependency, but a plain model does not need it
        return False
    return isinstance(model, PeftModel)


def merge_lora(model: nn.Module) -> nn.Module:
    """A copy of ``model`` with its LoRA adapters merged into the base weights (``merge_and_unload``): a plain
    transformers model that exports and loads with ``AutoModelForSequenceClassification``. ``model`` itself is
    left unchanged; a model without adapters is returned as it is."""
    if not is_peft_model(model):
        return model
    return copy.deepcopy(model).merge_and_unload()


def save_for_transformers(model: nn.Module, tokenizer: PreTrainedTokenizerBase | None, folder: str | Path) -> None:
    """Save ``model`` (and ``tokenizer``) in ``folder`` so that stock ``from_pretrained`` loads it. A PEFT model is
    saved merged, and its adapter alone beside it in ``folder/adapter`` (``PeftModel.from_pretrained`` reads it)."""
    folder = Path(folder)
    if is_peft_model(model):
        model.save_pretrained(folder / ADAPTER_FOLDER)
    merged = merge_lora(model)
    if not isinstance(merged, PreTrainedModel):
        raise AgoraError(f"Cannot save a {type(merged).__name__}: AgoraTrainer saves transformers models "
                        "(PreTrainedModel or a peft PeftModel around one).")
    merged.save_pretrained(folder)
    if tokenizer is not None:
        tokenizer.save_pretrained(folder)
