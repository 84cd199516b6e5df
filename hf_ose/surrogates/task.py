"""The task surrogate: inherit the parent's weights, train a few steps on labelled data, report the dev error."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from transformers import AutoTokenizer, PretrainedConfig, PreTrainedModel, PreTrainedTokenizerBase

from ..data import (
    digest_texts,
    digest_tokenizer,
    digest_weights,
    load_labelled_splits,
    load_texts,
    padding_tokenizer,
    tokenize,
)
from ..distillation.losses import DistillationLoss
from ..finetune import is_sequence_classifier, with_classification_head
from ..inheritance import extract_model
from ..torch_context import Batch, seeded, torch_threads
from .head import fit_linear_head
from .settings import SurrogateError, TaskSurrogateSettings, resolve_settings
from .training import PicklableParent, train_steps

Labelled = Any  # a file path, a ``datasets.Dataset`` or a list of dicts / (text, label) pairs

#: Rows per tokenized chunk of the development split and of the linear-probe examples; rows of calibration.
CHUNK = 128


@dataclass(frozen=True)
class TaskRun:
    """The tokenized training rows of one task-surrogate run."""

    batches: list[Batch]
    calibration: Batch
    head_batches: list[Batch]


class TaskSurrogate(PicklableParent):
    """Error objective: the FPTAS paper's own e, the development error of an inherited model after task training.

    ``TaskSurrogate(parent, train, dev, settings=None, **overrides)``: the settings
    (:class:`TaskSurrogateSettings`) with any field overridden by keyword, e.g. ``steps=1000, repeats=1``.

    A candidate is inherited from the parent (:func:`extract_model`; with ``calibrate`` using activation
    statistics of the first 128 training examples), optionally distilled for ``distill_steps`` steps on unlabelled
    ``texts`` (default: the training sentences) with :class:`DistillationLoss`, then trained ``steps`` steps on
    the labelled task. The value is the ``metric`` over the development examples (the first ``dev_size``;
    default all): ``"error_rate"`` (the 0-1 loss, default) or ``"cross_entropy"``.

    A parent that is a ``*ForSequenceClassification`` model passes its head on through inheritance; any other
    parent (a base model such as ``BertModel``) gets ``AutoModelForSequenceClassification`` built from the
    variant with ``num_labels`` (default: the largest label + 1), whose base model receives the inherited
    weights and whose new parts (a pooler the parent lacks) are initialised under ``seed``. The new head's
    output layer starts as a linear probe: logistic regression on the inherited features of the first
    ``head_examples`` training examples (:func:`fit_linear_head`), so a few steps refine a fitted head instead
    of spending themselves on a random one.

    Training batches cycle through the training examples in order and are tokenized once: give at least
    ``repeats * steps * batch_size`` examples so that no row is seen twice. The optimiser is AdamW **without weight
    decay**, its learning rate warms up over the first ``warmup`` fraction of the steps and decays linearly to
    zero at the last (every budget ends a complete schedule, so s and 10 s steps are comparable), gradients are
    clipped at norm 1, dropout is on during the task steps as in fine-tuning (off while distilling and
    scoring), and everything is seeded, so a candidate's value is reproducible. A non-finite loss gives
    ``nan``. The token embedding matrix, most of a small student's weights, stays as inherited unless
    ``train_embeddings``.

    The value is the mean over ``repeats`` independent runs: run r reads the training examples from row
    ``r * steps * batch_size`` on (its calibration and probe rows too, wrapping round at the end) under seed
    ``seed + r``. The distillation batches are the same for every run. Each run costs the same. How the
    defaults were chosen, and how well the value orders students, is in ``docs/surrogates.md``.
    ``threads`` bounds the intra-op threads; ``text_column`` and ``label_column`` name the columns to read.
    """

    is_prior = False

    def __init__(
        self,
        parent_model: PreTrainedModel,
        train: Labelled,
        dev: Labelled,
        settings: TaskSurrogateSettings | None = None,
        *,
        tokenizer: PreTrainedTokenizerBase | None = None,
        texts: Sequence[str] | Any | None = None,
        text_column: str = "sentence",
        label_column: str = "label",
        threads: int | None = None,
        **overrides: Any,
    ) -> None:
        self.settings = settings = resolve_settings(settings, TaskSurrogateSettings, overrides)
        (train_texts, train_labels), (dev_texts, dev_labels) = load_labelled_splits(
            [train, dev], text_column, label_column
        )
        dev_texts, dev_labels = dev_texts[: settings.dev_size], dev_labels[: settings.dev_size]
        self.num_labels = self._num_labels(parent_model, settings.num_labels, train_labels + dev_labels)
        self.tokenizer = padding_tokenizer(tokenizer or AutoTokenizer.from_pretrained(parent_model.name_or_path))
        self.parent = parent_model.eval()
        self.threads = threads
        self.loss = DistillationLoss()
        averaged = f", mean of {settings.repeats} runs" if settings.repeats > 1 else ""
        self.name = f"task surrogate ({settings.steps} steps, {settings.metric.replace('_', ' ')}{averaged})"

        rows_per_run = settings.steps * settings.batch_size
        self.runs = [self._task_run(train_texts, train_labels, r * rows_per_run) for r in range(settings.repeats)]
        self.dev = self._chunks(dev_texts, dev_labels, len(dev_texts))
        unlabelled = load_texts(texts) if texts is not None else train_texts
        self.distill_batches = [self._batch(unlabelled, None, s * settings.batch_size, settings.batch_size)
                                for s in range(settings.distill_steps)]
        with torch.inference_mode():
            self.parent_outputs = [self._run(self.parent, b) for b in self.distill_batches]
        self._digests = {
            "parent": digest_weights(parent_model), "tokenizer": digest_tokenizer(self.tokenizer),
            "train": _digest_labelled(train_texts, train_labels), "dev": _digest_labelled(dev_texts, dev_labels),
            "texts": digest_texts(unlabelled) if settings.distill_steps else None, "loss": self.loss.fingerprint(),
        }

    def fingerprint(self) -> dict[str, Any]:
        """The objective's name, digests of the parent, tokenizer and data, the loss and every setting."""
        return {"objective": type(self).__name__, **self._digests, **self.settings.fingerprint()}

    def __call__(self, config: PretrainedConfig) -> float:
        values = []
        for index, run in enumerate(self.runs):
            values.append(self._run_once(config, run, self.settings.seed + index))
            if math.isnan(values[-1]):
                return float("nan")
        return sum(values) / len(values)

    # ---- tokenized rows, built once -----------------------------------------------------------------------
    def _batch(self, texts: list[str], labels: list[int] | None, start: int, size: int) -> Batch:
        """``size`` rows from ``start`` on, wrapping round at the end; with ``labels`` when given."""
        rows = [(start + j) % len(texts) for j in range(size)]
        encoded = tokenize(self.tokenizer, [texts[r] for r in rows], self.settings.max_length)
        if labels is not None:
            encoded["labels"] = torch.tensor([labels[r] for r in rows])
        return encoded

    def _chunks(self, texts: list[str], labels: list[int], count: int, first: int = 0) -> list[Batch]:
        """``count`` labelled rows from ``first`` on, in batches of at most :data:`CHUNK`."""
        return [self._batch(texts, labels, first + start, min(CHUNK, count - start))
                for start in range(0, count, CHUNK)]

    def _task_run(self, texts: list[str], labels: list[int], first: int) -> TaskRun:
        """The rows of the run that reads the training examples from row ``first`` on."""
        settings = self.settings
        return TaskRun(
            batches=[self._batch(texts, labels, first + s * settings.batch_size, settings.batch_size)
                     for s in range(settings.steps)],
            calibration=self._batch(texts, None, first, min(CHUNK, len(texts))),
            head_batches=self._chunks(texts, labels, min(settings.head_examples, len(texts)), first),
        )

    # ---- one run --------------------------------------------------------------------------------------------
    def _run_once(self, config: PretrainedConfig, run: TaskRun, seed: int) -> float:
        """One inherit-distil-train-score run; ``nan`` when a loss or the metric is not finite."""
        settings = self.settings
        with torch_threads(self.threads), seeded(seed):
            student = extract_model(self.parent, config, run.calibration if settings.calibrate else None).eval()
            self._freeze_embeddings(student)
            if not train_steps(student, self.distill_batches, partial(self._distillation_loss, student),
                               settings.learning_rate):
                return float("nan")
            model = self._classifier(student, config, run.head_batches).train()  # dropout on, as in fine-tuning
            self._freeze_embeddings(model)
            if not train_steps(model, run.batches, partial(self._task_loss, model), settings.learning_rate,
                               warmup=settings.warmup, max_grad_norm=1.0):
                return float("nan")
            value = self._score(model.eval())
        return value if math.isfinite(value) else float("nan")

    def _distillation_loss(self, student: PreTrainedModel, step: int, batch: Batch) -> torch.Tensor:
        return self.loss(self._run(student, batch), self.parent_outputs[step], batch["attention_mask"])

    @staticmethod
    def _task_loss(model: PreTrainedModel, _step: int, batch: Batch) -> torch.Tensor:
        return F.cross_entropy(model(**_inputs(batch)).logits, batch["labels"])

    def _freeze_embeddings(self, model: PreTrainedModel) -> None:
        if not self.settings.train_embeddings:
            model.get_input_embeddings().weight.requires_grad_(False)

    def _score(self, model: PreTrainedModel) -> float:
        """The metric over the development examples."""
        with torch.inference_mode():
            logits = torch.cat([model(**_inputs(b)).logits.float() for b in self.dev])
        labels = torch.cat([b["labels"] for b in self.dev])
        if not torch.isfinite(logits).all():
            return float("nan")
        if self.settings.metric == "error_rate":
            return float((logits.argmax(-1) != labels).float().mean())
        return float(F.cross_entropy(logits, labels))

    def _classifier(self, student: PreTrainedModel, config: PretrainedConfig,
                    head_batches: list[Batch]) -> PreTrainedModel:
        """The inherited student itself when it has a classification head, else a new head on its weights whose
        output layer is fitted as a linear probe."""
        if is_sequence_classifier(student):
            if student.config.pad_token_id is None:
                student.config.pad_token_id = self.tokenizer.pad_token_id
            return student
        model = with_classification_head(student, config, self.num_labels, self.tokenizer.pad_token_id)
        if head_batches:
            fit_linear_head(model, head_batches, self.num_labels)
        return model

    @staticmethod
    def _num_labels(parent: PreTrainedModel, num_labels: int | None, labels: list[int]) -> int:
        if is_sequence_classifier(parent):
            if num_labels not in (None, parent.config.num_labels):
                raise SurrogateError(
                    f"num_labels={num_labels} but the parent's classification head has {parent.config.num_labels} "
                    "labels: drop num_labels, or pass the parent's base model to train a new head."
                )
            num_labels = parent.config.num_labels
        num_labels = num_labels if num_labels is not None else max(labels) + 1
        if num_labels < 2 or min(labels) < 0 or max(labels) >= num_labels:
            raise SurrogateError(
                f"Labels must be integers in [0, num_labels) with num_labels >= 2; got labels in "
                f"[{min(labels)}, {max(labels)}] and num_labels={num_labels}. Fix the labels or num_labels."
            )
        return num_labels

    @staticmethod
    def _run(model: PreTrainedModel, batch: Batch) -> Any:
        return model(**_inputs(batch), output_hidden_states=True)


def _inputs(batch: Batch) -> Batch:
    return {k: v for k, v in batch.items() if k != "labels"}


def _digest_labelled(texts: list[str], labels: list[int]) -> str:
    return digest_texts(f"{label}\t{text}" for text, label in zip(texts, labels))
