"""``compress``: a parent and a task to a smaller, faster, checked, documented (and optionally pushed) model.

Stages, each recorded in ``OUT/stages.json`` (:mod:`hf_ose.compression.ledger`): ``teacher`` (the parent
fine-tuned on the task), ``search`` (the FPTAS over the parent's own space), ``pick`` (the point within the
budget), ``student`` (inherited from the teacher with calibration text, then distilled from it), ``finetune``
(AgoraTrainer with distillation from the teacher), ``export`` (int8 or fp32 artifacts, parity-checked; an int8
one failing parity falls back to fp32), ``evaluate`` (the task's test metric and artifact agreement), ``bench`` (parent,
student and artifacts side by side) and ``package`` (``OUT/package/model``: the student, its tokenizer, the artifacts, the reports and the model card). The training stages
(teacher to finetune) are here; the delivery stages (export to package) are in :mod:`hf_ose.compression.delivery`.
Each stage takes the run's settings and its stage folder, resumes from what that folder holds, and returns the JSON
outputs the ledger records (paths relative to the run folder). Each stage says on stderr what it does, or that it
is reused, as it starts (:mod:`hf_ose.compression.progress`).
"""

from __future__ import annotations

import functools
import logging
import math
import shutil
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

from transformers import AutoTokenizer, DataCollatorWithPadding, TrainingArguments
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from ..agora.arguments import AgoraArguments
from ..agora.finetuning import MODEL_CLASSES, agora_trainer, load_teacher
from ..agora.labellers import as_labeller
from ..agora.records import AgoraReport
from ..data import padding_tokenizer
from ..distillation import DistillationLoss, DistillationTrainer
from ..extractor import Objectives, OSEExtractor
from ..finetune import last_complete_checkpoint
from ..front import ParetoFront
from ..inheritance import extract_model
from ..latency import LatencySettings
from ..parent import resolve_model_source
from ..space import Grid
from ..tasks import EMBEDDING, Task, load_task, tokenize_split
from . import embedding as embedding_stages
from .delivery import (BATCH_SIZE, MODEL_FOLDER, SEQ_LEN, bench_stage, evaluate_stage, export_runtimes, export_stage,
                       package_stage)
from .ledger import StageLedger, StageRecord
from .progress import StageReporter, trainer_bars
from .settings import CompressSettings

logger = logging.getLogger(__name__)

#: The split-size options, in split order.
ROWS: tuple[str, ...] = ("train_rows", "validation_rows", "test_rows")
#: The stages of a run, in order.
STAGES: tuple[str, ...] = ("teacher", "search", "pick", "student", "finetune", "export", "evaluate", "bench", "package")
#: Options every fine-tune of a compress run shares: CPU, no hub, no logging integrations, the progress bar that
#: :func:`~hf_ose.compression.progress.trainer_bars` labels (or silences) whatever transformers' verbosity.
_COMMON: dict[str, Any] = {"use_cpu": True, "report_to": "none", "per_device_eval_batch_size": 64,
                           "save_total_limit": 1, "logging_steps": 50, "disable_tqdm": False}
#: The format of a stage's recorded outputs where it changed: a stage recorded in an older format runs again
#: (evaluate: 2, the task's metric and kind-aware agreement in place of accuracy).
OUTPUT_FORMATS: dict[str, dict[str, int]] = {"evaluate": {"outputs_format": 2}}


@dataclass(frozen=True)
class CompressResult:
    """Where the published folder is, and every stage's recorded outputs."""

    folder: Path
    stages: dict[str, dict[str, Any]]
    #: Wall seconds of the attempt that finished each stage (``None``: recorded by an older version).
    seconds: dict[str, float | None]

    def summary(self) -> dict[str, Any]:
        """The figures a user checks: size, latency per runtime, the task's metric, agreement."""
        return self.stages["package"]["summary"]


def compress(settings: CompressSettings, out: str | Path, *, overwrite: bool = False, progress: bool = True,
             talk: bool = True) -> CompressResult:
    """Run (or resume) every stage of a compress run into ``out``; return where the model folder is.
    ``progress``: labelled progress bars; ``talk``: a line on stderr as each stage starts or is reused
    (:class:`~hf_ose.compression.progress.StageReporter`)."""
    out = Path(out)
    task, left_out = _task(settings)  # an unusable task is refused before the output folder is touched
    ledger = StageLedger(out, {"parent": settings.parent, "task": settings.task}, overwrite=overwrite)
    settings = replace(settings, **ledger.identity)  # ./minilm resumes a run started as minilm, fingerprints intact
    reporter = StageReporter(STAGES, quiet=not talk)
    done: dict[str, StageRecord] = {}

    def run(name: str, options: tuple[str, ...], upstream: tuple[str, ...], what: Callable[[], str],
            stage: Callable[[Path], dict[str, Any]], fixed: dict[str, Any] | None = None) -> dict[str, Any]:
        """Run stage ``name`` unless it finished with the same ``options`` (and ``fixed`` values) and upstream."""
        chosen = {**settings.settings_for(*options), **OUTPUT_FORMATS.get(name, {}), **(fixed or {})}
        upstream_keys = [done[u].fingerprint for u in upstream]
        if ledger.finished(name, chosen, upstream_keys):
            reporter.reused(name)
        else:
            reporter.started(name, what())
        done[name] = ledger.run(name, chosen, upstream_keys, stage)
        return done[name].outputs

    embedding = task.kind == EMBEDDING
    teacher = run("teacher", ("parent", "teacher", *ROWS, "max_length", "teacher_epochs", "seed"), (),
                  lambda: _teacher_plan(settings, task),
                  lambda folder: embedding_stages.teacher_stage(settings, task, folder) if embedding
                  else train_teacher_stage(settings, task, folder, progress))
    space = embedding_stages.same_width_grid(settings.parent) if embedding else None
    search = run("search", ("parent", "error", "epsilon", "latency_samples", "threads"), (),
                 lambda: f"FPTAS over {settings.parent}'s own space"
                         + (" at its hidden size (an embedding student keeps it)" if embedding else "")
                         + f" (epsilon {settings.epsilon:g}, latency measured on {settings.latency_samples} sampled "
                           "students)",
                 lambda folder: search_stage(settings, folder, progress, space),
                 {"space": space.to_dict()} if space is not None else None)
    pick = run("pick", ("budget",), ("search",), lambda: f"the point of the front: {settings.budget.criterion()}",
               lambda folder: pick_stage(settings, out / search["front"], folder))
    train = _embedding_student if embedding else _student_with_head
    exported, tuned = train(run, settings, task, out, teacher, pick, progress)
    teacher_dir, tuned_dir = out / teacher["model"], out / tuned["model"]
    shown = ", ".join(exported["artifacts"]) or "no artifact"
    artifacts = {runtime: out / entry["folder"] for runtime, entry in exported["artifacts"].items()}
    encoders = functools.cache(lambda: embedding_stages.artifact_encoders(settings, exported, out))  # on first use

    def evaluate(folder: Path) -> dict[str, Any]:
        if embedding:
            return embedding_stages.evaluate_stage(settings, task, teacher_dir, tuned_dir, encoders(), left_out)
        return evaluate_stage(settings, task, teacher_dir, tuned_dir, artifacts, left_out, progress)

    def timing(folder: Path) -> dict[str, Any]:
        if embedding:
            return embedding_stages.bench_stage(settings, teacher_dir, tuned_dir, encoders(), BATCH_SIZE, SEQ_LEN)
        return bench_stage(settings, teacher_dir, tuned_dir, artifacts)

    scored = (f"{len(task.test)} test pairs (Spearman); agreement: cosine with the student's embeddings" if embedding
              else f"{len(task.test)} test rows; agreement with the student")
    run("evaluate", (*ROWS[1:], "max_length", "agreement_rows"), ("export",),
        lambda: f"teacher, student and {shown} on {scored} on up to {settings.agreement_rows} development rows",
        evaluate)
    run("bench", ("threads",), ("export",),
        lambda: f"parent, student and {shown} side by side: batch {BATCH_SIZE}, sequence {SEQ_LEN}", timing)
    run("package", ("min_agreement",), ("evaluate", "bench"),
        lambda: f"student, tokenizer, artifacts, reports and model card into {out / 'package' / MODEL_FOLDER}",
        lambda folder: package_stage(settings, out, {name: record.outputs for name, record in done.items()}, folder))
    return CompressResult(out / "package" / MODEL_FOLDER, {name: record.outputs for name, record in done.items()},
                          {name: record.seconds for name, record in done.items()})


#: What a stage calls to run (or reuse) another: name, options, upstream stages, plan, stage function.
StageRunner = Callable[[str, tuple[str, ...], tuple[str, ...], Callable[[], str], Callable[[Path], dict[str, Any]]],
                       dict[str, Any]]


def _student_with_head(run: StageRunner, settings: CompressSettings, task: Task, out: Path, teacher: dict[str, Any],
                       pick: dict[str, Any], progress: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    """The student, finetune and export stages of a task with a head; the export and finetune outputs."""
    student = run("student", ("train_rows", "max_length", "distill_steps", "seed"), ("teacher", "pick"),
                  lambda: f"inherit {pick['architecture']} ({pick['params'] / 1e6:.1f}M parameters) + distil "
                          f"{settings.distill_steps} steps",
                  lambda folder: student_stage(settings, task, out / teacher["model"], out / pick["config"], folder,
                                               progress))
    tuned = run("finetune", (*ROWS, "max_length", "student_epochs", "learning_rate", "agora_rounds",
                             "agora_settings", "samples_per_mistake", "seed", "unlabelled", "pool_labelled"),
                ("teacher", "student"),
                lambda: f"AgoraTrainer, up to {_count(settings.agora_rounds, 'round')} x "
                        f"{_count(len(settings.agora_settings), 'setting')} x {_count(settings.student_epochs, 'epoch')}"
                        f" on {len(task.train)} rows" + _pool_rows_plan(settings)
                        + (" + points from the unlabelled pool" if settings.unlabelled else " + the points generated")
                        + " near the development mistakes, distilling from the teacher",
                lambda folder: finetune_stage(settings, task, out / teacher["model"], out / student["model"], folder,
                                              progress))
    exported = run("export", ("runtime", "precision", "validation_rows"), ("finetune",),
                   lambda: f"{', '.join(export_runtimes(settings))}, each parity-checked against the student"
                           + (" (an int8 artifact failing parity falls back to fp32)" if settings.precision == "int8"
                              else ""),
                   lambda folder: export_stage(settings, task, out / tuned["model"], folder))
    return exported, tuned


def _embedding_student(run: StageRunner, settings: CompressSettings, task: Task, out: Path, teacher: dict[str, Any],
                       pick: dict[str, Any], progress: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    """The student, finetune (passed through) and export stages of an embedding task
    (:mod:`hf_ose.compression.embedding`); the export and finetune outputs."""
    epochs = math.ceil(settings.student_epochs)
    student = run("student", ("train_rows", "max_length", "student_epochs", "learning_rate", "seed"),
                  ("teacher", "pick"),
                  lambda: f"inherit {pick['architecture']} ({pick['params'] / 1e6:.1f}M parameters) + distil it to "
                          f"the parent's sentence embeddings, {_count(epochs, 'epoch')} on {len(task.train)} sentences",
                  lambda folder: embedding_stages.student_stage(settings, task, out / teacher["model"],
                                                                out / pick["config"], folder))
    tuned = run("finetune", (), ("student",),
                lambda: "nothing to fine-tune: an embedding student has no head for Agora to label points for",
                lambda folder: embedding_stages.finetune_stage(student))
    runtimes = export_runtimes(settings)
    exported = run("export", ("runtime", "precision", "train_rows"), ("finetune",),
                   lambda: f"{', '.join(runtimes)} under sentence-transformers' file names, each parity-checked "
                           "against the student",
                   lambda folder: embedding_stages.export_stage(settings, task, out / tuned["model"], folder,
                                                                runtimes))
    return exported, tuned


def _pool_rows_plan(settings: CompressSettings) -> str:
    """The pool texts labelled up front, as the finetune stage's plan names them ('' without)."""
    if not settings.pool_labelled:
        return ""
    count = "every text" if settings.pool_labelled == -1 else _count(settings.pool_labelled, "text")
    return f" + {count} of the unlabelled pool labelled by the teacher up front"


def _teacher_plan(settings: CompressSettings, task: Task) -> str:
    """What the teacher stage does, with its sizes."""
    if task.kind == EMBEDDING:
        return (f"the parent {settings.parent}'s sentence-transformers pipeline, unchanged, scored on "
                f"{len(task.validation)} development pairs")
    if settings.teacher is not None:
        return f"the given teacher {settings.teacher}, copied"
    return (f"fine-tune {settings.parent} on {task.name}: {len(task.train)} rows x "
            f"{_count(settings.teacher_epochs, 'epoch')}, the best on {len(task.validation)} development rows kept")


def _count(number: float, noun: str) -> str:
    """``1 epoch``, ``2 epochs``, ``0.5 epochs``."""
    return f"{number:g} {noun}{'' if number == 1 else 's'}"


def _task(settings: CompressSettings) -> tuple[Task, int]:
    """The task, its splits capped at ``train_rows``, ``validation_rows`` and ``test_rows`` (the same rows on
    every re-run), without the test rows that repeat a validation row (Agora reads the validation split), and how
    many of those there were."""
    task = load_task(settings.task)
    if task.kind == EMBEDDING:
        embedding_stages.check_embedding_task(settings, task)
    task = task.subsample(train=settings.train_rows, validation=settings.validation_rows, test=settings.test_rows,
                          seed=settings.seed)
    task, left_out = task.without_validation_rows_in_test()
    if left_out:
        logger.warning("%d test row(s) of %s also appear in its validation split, which selection reads (Agora, "
                       "the runtime shipped): left out of the test split, so that the test score stays unbiased.",
                       left_out, task.name)
    return task, left_out


def train_teacher_stage(settings: CompressSettings, task: Task, folder: Path, progress: bool = True) -> dict[str, Any]:
    """The parent with the task's head (classes, one score, or tags), fine-tuned on the task (or the given
    ``--teacher``, its head checked against the task, copied)."""
    from ..agora.labellers import train_teacher

    if settings.teacher is not None:
        model, tokenizer = load_teacher(resolve_model_source(settings.teacher), task)
        model.save_pretrained(folder / "model")
        tokenizer.save_pretrained(folder / "model")
        return {"model": f"{folder.name}/model", "given": True}
    args = AgoraArguments(output_dir=str(folder / "model"), num_train_epochs=settings.teacher_epochs,
                          learning_rate=5e-5, per_device_train_batch_size=32, seed=settings.seed,
                          agora_max_length=settings.max_length, **_checkpoints(settings), **_COMMON)
    with trainer_bars("teacher", show=progress):
        train_teacher(settings.parent, task, folder / "model", args=args, resume=True)
    _remove_checkpoints(folder / "model")
    report = AgoraReport.load(folder / "model" / "agora_report.json")
    return {"model": f"{folder.name}/model", "given": False, "metric": task.metric_name, "dev_score": report.dev_score}


def search_stage(settings: CompressSettings, folder: Path, progress: bool = True,
                 space: Grid | None = None) -> dict[str, Any]:
    """The parent's own space (or ``space``) searched with the FPTAS (resumes from ``folder/cache``); the front
    saved."""
    objectives = Objectives(latency=LatencySettings(threads=settings.threads, on_noise="warn"),
                            latency_samples=settings.latency_samples)
    extractor = OSEExtractor(settings.parent, space=space, epsilon=settings.epsilon, objectives=objectives,
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
                  folder: Path, progress: bool = True) -> dict[str, Any]:
    """The chosen point inherited from the teacher with a calibration batch of training text, then distilled
    from it on the training text (sentences, pairs or words, encoded as fine-tuning encodes them) for
    ``distill_steps`` (checkpointed: a killed stage resumes)."""
    teacher, tokenizer = load_teacher(teacher_dir, task)
    encoded = tokenize_split(task, task.train, tokenizer, settings.max_length).remove_columns("labels")
    calibration = padding_tokenizer(tokenizer).pad(encoded[:64], return_tensors="pt")
    student = extract_model(teacher, config_dir, calibration)
    checkpoints = folder / "checkpoints"
    args = TrainingArguments(output_dir=str(checkpoints), max_steps=settings.distill_steps, learning_rate=1e-4,
                             per_device_train_batch_size=32, save_strategy="steps",
                             save_steps=max(1, settings.distill_steps // 4), seed=settings.seed, **_COMMON)
    with trainer_bars("distil", show=progress):
        trainer = DistillationTrainer(model=student, args=args, teacher=teacher, train_dataset=encoded,
                                      data_collator=DataCollatorWithPadding(padding_tokenizer(tokenizer)),
                                      loss=DistillationLoss(relation_heads=_relation_heads(student.config,
                                                                                           teacher.config)))
    output = trainer.train(resume_from_checkpoint=last_complete_checkpoint(checkpoints))
    student.save_pretrained(folder / "model")
    tokenizer.save_pretrained(folder / "model")
    return {"model": f"{folder.name}/model", "distill_loss": output.training_loss,
            "params": sum(p.numel() for p in student.parameters())}


def finetune_stage(settings: CompressSettings, task: Task, teacher_dir: Path, student_dir: Path,
                   folder: Path, progress: bool = True) -> dict[str, Any]:
    """The student fine-tuned with AgoraTrainer: the teacher labels the points sampled near the development
    mistakes (classes, scores or tags) and is distilled from on every row by the task's loss; selected by the
    task's metric; the test split is scored once, at the end."""
    teacher, teacher_tokenizer = load_teacher(teacher_dir, task)
    labeller = as_labeller(teacher, tokenizer=teacher_tokenizer, max_length=settings.max_length)
    student = MODEL_CLASSES[task.kind].from_pretrained(student_dir)
    tokenizer = AutoTokenizer.from_pretrained(student_dir)
    args = AgoraArguments(
        output_dir=str(folder / "model"), num_train_epochs=settings.student_epochs,
        learning_rate=settings.learning_rate, per_device_train_batch_size=32, seed=settings.seed,
        metric_for_best_model=task.metric_name, agora_max_length=settings.max_length,
        agora_settings=[dict(setting) for setting in settings.agora_settings],
        agora_max_rounds=settings.agora_rounds, agora_samples_per_mistake=settings.samples_per_mistake,
        distill=True, agora_unlabelled=settings.unlabelled, agora_pool_labelled=settings.pool_labelled,
        **_checkpoints(settings), **_COMMON,
    )
    with trainer_bars("agora", rounds=settings.agora_rounds, show=progress):
        trainer = agora_trainer(student, tokenizer, task, args, labeller)
        trainer.train(resume_from_checkpoint=True)  # reuses the setting runs a killed stage finished
    _remove_checkpoints(folder / "model")
    report = trainer.agora_report
    return {"model": f"{folder.name}/model", "report": f"{folder.name}/model/agora_report.json",
            "metric": task.metric_name, "dev_score": report.dev_score, "test_score": report.test_metric,
            "rounds": len(report.rounds), "kept_points": sum(entry.kept for entry in report.rounds),
            "pool_labelled": report.pool_labelled}


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
