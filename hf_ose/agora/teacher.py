"""The usual labeller, in one call: the parent fine-tuned on the task (a teacher), through AgoraTrainer."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

from transformers import (AutoConfig, AutoModelForSequenceClassification, AutoTokenizer, PreTrainedModel,
                          PreTrainedTokenizerBase, TrainingArguments)

from ..finetune import is_sequence_classifier, with_classification_head
from ..torch_context import seeded
from .interfaces import AgoraError

if TYPE_CHECKING:
    from ..tasks import Task
    from .arguments import AgoraArguments

__all__ = ["train_teacher"]


def train_teacher(parent: str | Path | PreTrainedModel, task: Task | str | Path, output_dir: str | Path, *,
                  args: AgoraArguments | TrainingArguments | None = None,
                  tokenizer: PreTrainedTokenizerBase | None = None,
                  resume: bool = False) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Fine-tune ``parent`` on ``task``'s train split and save it in ``output_dir``; return it and its tokenizer.

    ``parent`` is a model folder or a model: a bare encoder (or a classifier with another class count) gets a
    new classification head with the task's labels, started from ``args.seed``; a classifier with the task's
    class count keeps its head (its ``id2label``/``label2id`` set to the task's). ``task`` is a
    :class:`hf_ose.tasks.Task` or what :func:`hf_ose.tasks.load_task` reads. Training runs through
    :class:`AgoraTrainer` with no labeller: each setting of ``args`` (default: one, the arguments as given) is
    fine-tuned and the best on the validation split kept (by accuracy, unless ``args.metric_for_best_model``
    names another of ``accuracy_metric``'s keys or ``loss``); the test split is scored once, at the end
    (``test_accuracy`` in ``output_dir/agora_report.json``). ``args`` defaults to 3 epochs at learning rate
    5e-5, batch 32; its ``output_dir`` is replaced by ``output_dir``. The saved folder loads with stock
    ``AutoModelForSequenceClassification.from_pretrained``.
    """
    from .arguments import AgoraArguments
    from .metrics import accuracy_metric
    from .trainer import AgoraTrainer

    task = _task(task)
    if args is None:
        args = AgoraArguments(output_dir=str(output_dir), num_train_epochs=3, learning_rate=5e-5,
                              per_device_train_batch_size=32, per_device_eval_batch_size=64, save_strategy="no",
                              report_to="none")
    args = dataclasses.replace(AgoraArguments.from_training_arguments(args), output_dir=str(output_dir),
                               agora_text_columns=getattr(args, "agora_text_columns", None) or task.text_columns,
                               metric_for_best_model=args.metric_for_best_model or "accuracy")
    tokenizer = tokenizer if tokenizer is not None else _tokenizer(parent)
    with seeded(args.seed):
        model = _classifier(parent, task, tokenizer)
    trainer = AgoraTrainer(model=model, args=args, train_dataset=task.train, eval_dataset=task.validation,
                           processing_class=tokenizer, compute_metrics=accuracy_metric, test_dataset=task.test)
    trainer.train(resume_from_checkpoint=resume or None)
    return trainer.model, tokenizer


def _task(task: Task | str | Path) -> Task:
    from ..tasks import Task, load_task

    return task if isinstance(task, Task) else load_task(task)


def _tokenizer(parent: str | Path | PreTrainedModel) -> PreTrainedTokenizerBase:
    source = parent.name_or_path if isinstance(parent, PreTrainedModel) else str(parent)
    try:
        return AutoTokenizer.from_pretrained(source)
    except (OSError, ValueError, TypeError) as error:
        raise AgoraError(f"No tokenizer found for the parent at {source!r} ({error}): pass tokenizer= to "
                         "train_teacher.") from error


def _classifier(parent: str | Path | PreTrainedModel, task: Task,
                tokenizer: PreTrainedTokenizerBase) -> PreTrainedModel:
    """``parent`` as a ``*ForSequenceClassification`` with ``task``'s labels."""
    labels = {"id2label": task.id2label, "label2id": task.label2id}
    if isinstance(parent, PreTrainedModel):
        if is_sequence_classifier(parent) and parent.config.num_labels == task.num_labels:
            model = parent
        else:
            model = with_classification_head(parent, parent.config, task.num_labels, tokenizer.pad_token_id)
        model.config.update(labels)
        return model
    if not Path(parent).is_dir():
        raise AgoraError(f"The parent {parent} is not a folder: pass a model folder (config, weights, tokenizer) "
                         "or a loaded model.")
    config = AutoConfig.from_pretrained(str(parent))
    if any(name.endswith("ForSequenceClassification") for name in config.architectures or ()) \
            and config.num_labels != task.num_labels:
        raise AgoraError(f"{parent} classifies {config.num_labels} classes but {task.name} has {task.num_labels}: "
                         "pass its bare encoder, or a classifier with the task's class count.")
    pad = {} if config.pad_token_id is not None else {"pad_token_id": tokenizer.pad_token_id}
    return AutoModelForSequenceClassification.from_pretrained(str(parent), num_labels=task.num_labels, **labels, **pad)
