"""Fine-tuning a model on a task, as ``hf-ose finetune`` does: plainly, with distillation from a teacher, with
Agora, or both (:class:`FinetuneOptions`), one seed per :func:`train_student` call; :func:`keep_best_seed` keeps the
best seed by development score. :func:`train_teacher` makes the teacher: the parent with the task's head, fine-tuned.
The Agora benchmark runs the same code. Also what every such fine-tuning shares: the model class and head of each
task kind, the accuracy metric, and PEFT (LoRA) students merged for export and saved so stock transformers loads
them. Every kind with a head (classification, regression, token classification) runs through
:class:`~hf_ose.agora.AgoraTrainer` on the task's rows, selected and scored by the task's metric; an embedding
task's teacher is the parent itself (Agora does not apply to embedding distillation)."""

from __future__ import annotations

import copy
import dataclasses
import json
import math
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
from transformers import (AutoConfig, AutoModel, AutoModelForSequenceClassification, AutoModelForTokenClassification,
                          AutoTokenizer, DataCollatorForTokenClassification, DataCollatorWithPadding,
                          PretrainedConfig, PreTrainedModel, PreTrainedTokenizerBase, TrainingArguments, set_seed)

from ..data import padding_tokenizer
from ..finetune import sentence_embeddings, with_task_head
from ..io import atomic_write
from ..metrics import trainer_metrics
from ..parent import resolve_model_source
from ..tasks import CLASSIFICATION, EMBEDDING, REGRESSION, TOKEN_CLASSIFICATION, Task, load_task
from ..torch_context import seeded
from .interfaces import AgoraError, Labeller
from .records import REPORT_FILE, AgoraReport

if TYPE_CHECKING:
    from .arguments import AgoraArguments
    from .trainer import AgoraTrainer

#: The ``transformers`` auto class of each task kind's model, and the suffix of its head's class name.
MODEL_CLASSES: dict[str, type] = {CLASSIFICATION: AutoModelForSequenceClassification,
                                  REGRESSION: AutoModelForSequenceClassification,
                                  TOKEN_CLASSIFICATION: AutoModelForTokenClassification, EMBEDDING: AutoModel}
HEADS: dict[str, str] = {"ForSequenceClassification": "a sequence classifier",
                         "ForTokenClassification": "a token classifier"}
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
    #: Share of the development split held out from Agora's sampler to choose the setting and the round.
    selection_share: float = 0.0

    @property
    def needs_teacher(self) -> bool:
        return self.agora or self.distill

    def agora_settings(self) -> list[dict[str, Any]]:
        """Agora's settings: those given, or by default the learning rate halved, as given and doubled."""
        if self.settings:
            return [dict(setting) for setting in self.settings]
        return [{"learning_rate": self.learning_rate * factor} for factor in (0.5, 1.0, 2.0)]

    def arguments(self, output_dir: Path, seed: int, metric: str, *, distill: bool | None = None,
                  agora: bool | None = None) -> AgoraArguments:
        """The :class:`~hf_ose.agora.arguments.AgoraArguments` of one run, selecting by ``metric`` (the task's,
        e.g. ``pearson``): Agora's loop over the settings when ``agora``, otherwise a single fine-tuning (one
        setting, one round)."""
        from .arguments import AgoraArguments

        agora = self.agora if agora is None else agora
        distill = self.distill if distill is None else distill
        pool = self.unlabelled if agora or distill else None  # never the teacher's fine-tuning
        return AgoraArguments(
            output_dir=str(output_dir), seed=seed, num_train_epochs=self.epochs,
            per_device_train_batch_size=self.batch_size, per_device_eval_batch_size=64,
            learning_rate=self.learning_rate, warmup_steps=0.1, weight_decay=0.01,
            eval_strategy="no", save_strategy="no", logging_steps=50, report_to="none", dataloader_pin_memory=False,
            metric_for_best_model=metric, greater_is_better=True,
            agora_settings=self.agora_settings() if agora else None,
            agora_samples_per_mistake=self.samples_per_mistake, agora_sampler=self.sampler,
            agora_max_rounds=self.rounds if agora else 1, agora_min_confidence=self.min_confidence,
            agora_max_length=self.max_length, distill=distill, agora_unlabelled=pool,
            agora_pool_space=self.pool_space, agora_max_points_per_round=self.max_points_per_round,
            agora_pool_labelled=self.pool_labelled if pool else 0,
            agora_selection_share=self.selection_share if agora else 0.0,
        )


@dataclass(frozen=True)
class SeedRun:
    """One seed's result: development and test scores by the task's metric (``metric_name``: accuracy, pearson,
    entity f1), rounds run, the size of the training set the kept model trained on (original rows plus Agora's
    kept points), wall time and the folder holding the model."""

    seed: int
    metric_name: str
    dev_score: float
    test_score: float
    rounds: int
    train_size: int
    seconds: float
    output_dir: Path

    def to_dict(self) -> dict[str, Any]:
        """The run's figures, the test score under its metric's name (``test_accuracy``, ``test_pearson``...)."""
        return {"seed": self.seed, "metric": self.metric_name, "dev_score": self.dev_score,
                f"test_{self.metric_name}": self.test_score, "rounds": self.rounds, "train_size": self.train_size,
                "seconds": round(self.seconds, 1), "output_dir": str(self.output_dir)}


def train_student(model: str | Path, task: Task, output_dir: Path, options: FinetuneOptions, seed: int,
                  teacher: tuple[PreTrainedModel, PreTrainedTokenizerBase] | Labeller | None = None) -> SeedRun:
    """Fine-tune ``model`` (a folder) on ``task`` (classification, regression or token classification) under
    ``seed`` as ``options`` say, with :class:`AgoraTrainer`, distilling from and labelling with ``teacher`` where
    asked; select by the task's metric and score the test split once; save the (merged) model, tokenizer and
    report in ``output_dir``."""
    if options.needs_teacher and teacher is None:
        raise AgoraError("--agora and --distill need a teacher: pass --teacher DIR, or let hf-ose fine-tune MODEL "
                         "into OUT/teacher first.")
    if task.kind == EMBEDDING:
        raise AgoraError(f"The task {task.name} is an embedding task, which has no head to fine-tune: distil an "
                         "embedding student with hf_ose.embeddings (docs/embeddings.md), or load a task with "
                         "labels (classification, regression, token classification).")
    started = time.perf_counter()
    set_seed(seed)
    student, tokenizer = build_student(model, task, lora=options.lora)
    args = options.arguments(output_dir, seed, task.metric_name)
    labeller = _labeller(teacher, options) if teacher is not None else None
    trainer = agora_trainer(student, tokenizer, task, args, labeller)
    trainer.train()
    report = trainer.agora_report
    best = next((entry for entry in report.rounds if entry.round == report.best_round), report.rounds[-1])
    return SeedRun(seed, task.metric_name, _score(report.dev_score), _score(report.test_metric), len(report.rounds),
                   int(best.train_size), time.perf_counter() - started, Path(output_dir))


def _score(value: float | None) -> float:
    """A report's score as a float (NaN where it has none, e.g. a correlation of constant predictions)."""
    return math.nan if value is None else float(value)


def agora_trainer(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, task: Task, args: AgoraArguments,
                  labeller: Labeller | None = None) -> AgoraTrainer:
    """An :class:`AgoraTrainer` on ``task``'s rows (text with a class or score, or words with tags) and its test
    split, batched by the kind's collator (padding with the end-of-sequence token where the tokenizer has no pad
    token) and scored by the task's metrics (:func:`hf_ose.metrics.trainer_metrics`)."""
    from .trainer import AgoraTrainer

    collator = DataCollatorForTokenClassification if task.kind == TOKEN_CLASSIFICATION else DataCollatorWithPadding
    return AgoraTrainer(model=model, args=args, train_dataset=task.train, eval_dataset=task.validation,
                        data_collator=collator(padding_tokenizer(tokenizer)), processing_class=tokenizer,
                        compute_metrics=trainer_metrics(task.kind, task.label_names), labeller=labeller,
                        test_dataset=task.test)


def train_teacher(parent: str | Path | PreTrainedModel, task: Task | str | Path, output_dir: str | Path, *,
                  args: AgoraArguments | TrainingArguments | None = None,
                  tokenizer: PreTrainedTokenizerBase | None = None,
                  resume: bool = False) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Fine-tune ``parent`` on ``task``'s train split and save it in ``output_dir``; return it and its tokenizer.

    ``parent`` is a model folder, a Hub id or a model: a bare encoder gets a new head for the task's kind
    (:data:`MODEL_CLASSES`: classes, one regression output, or tags), started from ``args.seed``; a model with
    the task's head keeps it (its ``id2label``/``label2id`` set to the task's). ``task`` is a
    :class:`hf_ose.tasks.Task` or what :func:`hf_ose.tasks.load_task` reads. Every kind with a head trains
    through :class:`AgoraTrainer` with no labeller: the settings of ``args`` (default: one, the arguments as
    given) are fine-tuned and the best on the validation split kept (by the task's metric, unless
    ``args.metric_for_best_model`` names another); the test split is scored once, at the end
    (``test_metric_name`` and ``test_metric`` in ``output_dir/agora_report.json``). An embedding task's teacher
    is the parent's encoder as it is, scored on the similarity splits. ``args`` defaults to 3 epochs at learning rate 5e-5,
    batch 32; its ``output_dir`` is replaced by ``output_dir``. The saved folder loads with stock
    ``from_pretrained`` of the kind's auto class."""
    from .arguments import AgoraArguments

    task = task if isinstance(task, Task) else load_task(task)
    parent = resolve_model_source(parent)
    if args is None:
        args = AgoraArguments(output_dir=str(output_dir), num_train_epochs=3, learning_rate=5e-5,
                              per_device_train_batch_size=32, per_device_eval_batch_size=64, save_strategy="no",
                              report_to="none")
    metric = args.metric_for_best_model or task.metric_name
    args = dataclasses.replace(AgoraArguments.from_training_arguments(args), output_dir=str(output_dir),
                               metric_for_best_model=metric)
    tokenizer = tokenizer if tokenizer is not None else _tokenizer(parent)
    with seeded(args.seed):
        model = _with_head(parent, task, tokenizer)
    if task.kind == EMBEDDING:
        _score_embedding_teacher(model, tokenizer, task, args)
    else:
        trainer = agora_trainer(model, tokenizer, task, args)
        trainer.train(resume_from_checkpoint=resume or None)
        model = trainer.model
    return model, tokenizer


def _score_embedding_teacher(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, task: Task,
                             args: AgoraArguments) -> AgoraReport:
    """An embedding task's teacher, the parent's encoder unchanged: saved and scored by the Spearman correlation
    of its pairs' cosine similarities with their scores (no score without a similarity split)."""
    def spearman(split: Any) -> float | None:
        if not len(split):
            return None
        first, second = (sentence_embeddings(model, tokenizer, split[column], max_length=args.agora_max_length)
                         for column in ("sentence1", "sentence2"))
        return task.compute_metrics((first * second).sum(axis=1), split["label"])["spearman"]

    save_for_transformers(model, tokenizer, args.output_dir)
    report = AgoraReport(metric="eval_spearman", greater_is_better=True, task=EMBEDDING,
                         dev_score=spearman(task.validation), test_metric_name="spearman",
                         test_metric=spearman(task.test),
                         notes=["embedding: the teacher is the parent's encoder, unchanged (Agora does not apply to "
                                "embedding distillation)"])
    report.save(args.output_dir)
    return report


def build_student(model: str | Path, task: Task, *, lora: bool = False
                  ) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """``model`` with ``task``'s head (:data:`MODEL_CLASSES`): a bare encoder gets a new head (from the current
    torch seed) with the task's labels; a model with a head must have the task's. With ``lora``, a PEFT LoRA
    model over every linear layer, the head trained in full."""
    model = resolve_model_source(model)
    tokenizer = check_model(model, task)
    student = MODEL_CLASSES[task.kind].from_pretrained(model, **head_settings(task))
    if lora:
        from peft import LoraConfig, TaskType, get_peft_model

        kind = {TOKEN_CLASSIFICATION: TaskType.TOKEN_CLS, EMBEDDING: TaskType.FEATURE_EXTRACTION}
        student = get_peft_model(student, LoraConfig(task_type=kind.get(task.kind, TaskType.SEQ_CLS), r=8,
                                                     lora_alpha=16, lora_dropout=0.1, target_modules="all-linear"))
    return student, tokenizer


def head_settings(task: Task) -> dict[str, Any]:
    """The config fields of ``task``'s head: its labels, or one output and ``problem_type`` for regression."""
    if task.kind == EMBEDDING:
        return {}
    if task.kind == REGRESSION:
        return {"num_labels": 1, "problem_type": "regression"}
    return {"num_labels": task.num_labels, "id2label": task.id2label, "label2id": task.label2id}


def check_head(config: PretrainedConfig, task: Task, what: str) -> None:
    """Refuse a model whose head does not fit ``task``: another kind of head, or another number of outputs. A
    bare encoder (or another head, e.g. masked LM) fits: it gets the task's head."""
    head = next((suffix for name in config.architectures or () for suffix in HEADS if name.endswith(suffix)), None)
    wanted = _head_suffix(task)
    if head is None or wanted is None:
        return
    if head != wanted:
        raise AgoraError(f"{what} is {HEADS[head]} but the task {task.name} is {task.kind}, which needs "
                         f"{HEADS[wanted]}: pass its bare encoder, or a model with a {wanted[3:]} head.")
    if task.kind == REGRESSION and config.num_labels != 1:
        raise AgoraError(f"{what} classifies {config.num_labels} classes but the task {task.name} is regression, "
                         "with one score: pass its bare encoder, or a one-output (num_labels=1) model.")
    if task.kind != REGRESSION and config.num_labels != task.num_labels:
        raise AgoraError(f"{what} classifies {config.num_labels} classes but the task {task.name} has "
                         f"{task.num_labels} ({', '.join(task.label_names)}): pass its bare encoder, or a "
                         f"model with {task.num_labels} outputs.")


def _head_suffix(task: Task) -> str | None:
    """The class-name suffix of ``task``'s head (``ForTokenClassification``...); None for an embedding task."""
    return next((suffix for suffix in HEADS if MODEL_CLASSES[task.kind].__name__.endswith(suffix)), None)


def check_model(model: str | Path, task: Task) -> PreTrainedTokenizerBase:
    """``model``'s tokenizer, once its folder loads and its head (if any) fits ``task``."""
    model = resolve_model_source(model)
    with _loading(f"the model folder {model}", "pass a folder with config.json, weights and a tokenizer."):
        config = AutoConfig.from_pretrained(model)
        tokenizer = AutoTokenizer.from_pretrained(model)
    check_head(config, task, str(model))
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
    """Every seed's dev and test figures, the test score's mean and spread under the metric's name
    (``test_accuracy_mean``, ``test_pearson_std``...), and the seed kept."""
    tests, name = [run.test_score for run in runs], best.metric_name
    return {"runs": [run.to_dict() for run in runs], "best_seed": best.seed, "metric": name,
            f"test_{name}_mean": statistics.fmean(tests),
            f"test_{name}_std": statistics.stdev(tests) if len(tests) > 1 else 0.0}


def format_runs(runs: list[SeedRun], best: SeedRun, task: Task, options: FinetuneOptions) -> str:
    """The final table: one line per seed (the kept one marked ``*``), then mean and spread."""
    mode = " + ".join(name for name, on in (("Agora", options.agora), ("distillation", options.distill),
                                              ("LoRA", options.lora)) if on) or "plain fine-tuning"
    dev, test = f"dev {task.metric_name}", f"test {task.metric_name}"
    header = f"{'':2}{'seed':>4}{dev:>14}{test:>15}{'rounds':>8}{'train rows':>12}{'seconds':>9}"
    lines = [f"\n{task.name}, {mode}: test split {len(task.test)} rows (never used for selection)", header,
             "-" * len(header)]
    for run in runs:
        lines.append(f"{'*' if run is best else '':2}{run.seed:>4}{run.dev_score:>14.4f}{run.test_score:>15.4f}"
                     f"{run.rounds:>8}{run.train_size:>12}{run.seconds:>9.0f}")
    summary = seed_summary(runs, best)
    lines.append(f"{test} over {len(runs)} seed(s): mean {summary[f'test_{best.metric_name}_mean']:.4f}, "
                 f"std {summary[f'test_{best.metric_name}_std']:.4f}; * kept (best dev score)")
    return "\n".join(lines)


def load_teacher(folder: str | Path, task: Task) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """A saved model with ``task``'s head (:data:`MODEL_CLASSES`) and its tokenizer, its head checked."""
    with _loading(f"the teacher {folder}", f"pass a folder with a model for {task.kind} and its tokenizer "
                                            "(e.g. OUT/teacher of an earlier run)."):
        check_head(AutoConfig.from_pretrained(folder), task, f"The teacher {folder}")
        model = MODEL_CLASSES[task.kind].from_pretrained(folder)
        tokenizer = AutoTokenizer.from_pretrained(folder)
    return model.eval(), tokenizer


def _tokenizer(parent: str | Path | PreTrainedModel) -> PreTrainedTokenizerBase:
    source = parent.name_or_path if isinstance(parent, PreTrainedModel) else str(parent)
    try:
        return AutoTokenizer.from_pretrained(source)
    except (OSError, ValueError, TypeError) as error:
        raise AgoraError(f"No tokenizer found for the parent at {source!r} ({error}): pass tokenizer= to "
                         "train_teacher.") from error


def _with_head(parent: str | Path | PreTrainedModel, task: Task,
               tokenizer: PreTrainedTokenizerBase) -> PreTrainedModel:
    """``parent`` with ``task``'s head and labels: a model object keeps a head that fits and gets a new one
    otherwise (on its base model's weights); a folder's head must fit (:func:`check_head`)."""
    if isinstance(parent, PreTrainedModel):
        suffix = _head_suffix(task)
        if suffix and type(parent).__name__.endswith(suffix) and parent.config.num_labels == task.num_labels:
            parent.config.update({key: value for key, value in head_settings(task).items() if key != "num_labels"})
            return parent
        return with_task_head(parent, parent.config, MODEL_CLASSES[task.kind], tokenizer.pad_token_id,
                              **head_settings(task))
    try:
        config = AutoConfig.from_pretrained(str(parent))
    except (OSError, ValueError) as error:
        raise AgoraError(f"The parent {parent} is not a folder or a Hub id that loads ({str(error).splitlines()[0]}): "
                         "pass a model folder (config, weights, tokenizer), a Hub id or a loaded model.") from error
    check_head(config, task, str(parent))
    pad = {} if config.pad_token_id is not None or task.kind == EMBEDDING else {"pad_token_id": tokenizer.pad_token_id}
    return MODEL_CLASSES[task.kind].from_pretrained(str(parent), **head_settings(task), **pad)


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
