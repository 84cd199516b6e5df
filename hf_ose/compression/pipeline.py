"""``compress``: a parent and a task to a smaller, faster, checked, documented (and optionally pushed) model.

Stages, each recorded in ``OUT/stages.json`` (:mod:`hf_ose.compression.ledger`): ``teacher`` (the parent
fine-tuned on the task), ``search`` (the FPTAS over the parent's own space), ``pick`` (the point within the
budget), ``student`` (inherited from the teacher with calibration text, then distilled from it), ``finetune``
(AgoraTrainer with distillation from the teacher), ``export`` (int8 artifacts, parity-checked), ``evaluate``
(test accuracy and artifact agreement), ``bench`` (parent, student and artifacts side by side) and ``package``
(``OUT/model``: the student, its tokenizer, the artifacts, the reports and the model card).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..tasks import Task, load_task
from .delivery import bench_stage, evaluate_stage, export_stage
from .ledger import StageLedger, StageRecord
from .packaging import package_stage
from .settings import CompressSettings
from .training import finetune_stage, pick_stage, search_stage, student_stage, train_teacher_stage

MODEL_FOLDER = "model"
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CompressResult:
    """Where the published folder is, and every stage's recorded outputs."""

    folder: Path
    stages: dict[str, dict[str, Any]]
    #: Wall seconds of the attempt that finished each stage (``None``: recorded by an older version).
    seconds: dict[str, float | None]

    def summary(self) -> dict[str, Any]:
        """The figures a user checks: size, latency per runtime, accuracy, agreement."""
        return self.stages["package"]["summary"]


def compress(settings: CompressSettings, out: str | Path, *, overwrite: bool = False,
             progress: bool = True) -> CompressResult:
    """Run (or resume) every stage of a compress run into ``out``; return where the model folder is."""
    out = Path(out)
    task, left_out = _task(settings)  # an unusable task is refused before the output folder is touched
    ledger = StageLedger(out, {"parent": settings.parent, "task": settings.task}, overwrite=overwrite)
    done: dict[str, StageRecord] = {}

    def run(name: str, options: tuple[str, ...], upstream: tuple[str, ...], stage: Any) -> dict[str, Any]:
        done[name] = ledger.run(name, settings.settings_for(*options), [done[u].fingerprint for u in upstream],
                                stage)
        return done[name].outputs

    teacher = run("teacher", ("parent", "teacher", "train_rows", "max_length", "teacher_epochs", "seed"), (),
                  lambda folder: train_teacher_stage(settings, task, folder))
    search = run("search", ("parent", "error", "epsilon", "latency_samples", "threads"), (),
                 lambda folder: search_stage(settings, folder, progress))
    pick = run("pick", ("budget",), ("search",), lambda folder: pick_stage(settings, out / search["front"], folder))
    student = run("student", ("train_rows", "max_length", "distill_steps", "seed"), ("teacher", "pick"),
                  lambda folder: student_stage(settings, task, out / teacher["model"], out / pick["config"], folder))
    tuned = run("finetune", ("train_rows", "max_length", "student_epochs", "learning_rate", "agora_rounds",
                             "agora_settings", "samples_per_mistake", "seed"), ("teacher", "student"),
                lambda folder: finetune_stage(settings, task, out / teacher["model"], out / student["model"], folder))
    exported = run("export", ("runtime",), ("finetune",),
                   lambda folder: export_stage(settings, task, out / tuned["model"], folder))
    artifacts = {runtime: out / entry["folder"] for runtime, entry in exported["artifacts"].items()}
    run("evaluate", ("max_length", "agreement_rows"), ("export",),
        lambda folder: evaluate_stage(settings, task, out / teacher["model"], out / tuned["model"], artifacts,
                                      left_out))
    run("bench", ("threads",), ("export",),
        lambda folder: bench_stage(settings, out / teacher["model"], out / tuned["model"], artifacts))
    run("package", ("min_agreement",), ("evaluate", "bench"),
        lambda folder: package_stage(settings, out, {name: record.outputs for name, record in done.items()}, folder))
    return CompressResult(out / "package" / MODEL_FOLDER, {name: record.outputs for name, record in done.items()},
                          {name: record.seconds for name, record in done.items()})


def _task(settings: CompressSettings) -> tuple[Task, int]:
    """The task, its training split capped at ``train_rows`` (the same rows on every re-run), without the test
    rows that repeat a validation row (Agora reads the validation split), and how many of those there were."""
    task, left_out = load_task(settings.task).without_validation_rows_in_test()
    if left_out:
        logger.warning("%d test row(s) of %s also appear in its validation split, which Agora reads: left out of "
                       "the test split, so that the test score stays unbiased.", left_out, task.name)
    return task.subsample(train=settings.train_rows, seed=settings.seed), left_out
