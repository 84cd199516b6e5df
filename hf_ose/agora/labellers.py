"""Labellers: a sequence-classification model, a ``text-classification`` pipeline, or a plain callable, each
giving every point a probability per class (see :class:`~hf_ose.agora.interfaces.Labeller`). The usual one, the
parent fine-tuned on the task, is made by :func:`~hf_ose.agora.finetuning.train_teacher` (re-exported here)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np
import torch
from transformers import (AutoModelForSequenceClassification, AutoTokenizer, Pipeline, PreTrainedModel,
                          PreTrainedTokenizerBase)

from ..finetune import is_sequence_classifier
from .finetuning import train_teacher  # noqa: F401 (re-exported: the teacher is the usual labeller)
from .interfaces import AgoraError, Labeller, Point, check_batching, sides

if TYPE_CHECKING:
    from transformers import PretrainedConfig

__all__ = ["CallableLabeller", "ModelLabeller", "PipelineLabeller", "as_labeller", "train_teacher"]

_DEFAULT_NAME = re.compile(r"LABEL_\d+")


def _config_label_names(config: PretrainedConfig) -> tuple[str, ...] | None:
    """``config.id2label`` in id order, unless it is transformers' placeholder ``LABEL_0``, ``LABEL_1``..."""
    names = tuple(str(config.id2label[i]) for i in range(config.num_labels)) if config.id2label else ()
    if len(names) != config.num_labels or all(_DEFAULT_NAME.fullmatch(name) for name in names):
        return None
    return names


class ModelLabeller(Labeller):
    """A ``*ForSequenceClassification`` model's softmax, run in eval mode, in batches, without gradients;
    ``tokenizer`` encodes pairs as pairs, cut at ``max_length`` tokens."""

    def __init__(self, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, *, batch_size: int = 32,
                 max_length: int = 128) -> None:
        if not is_sequence_classifier(model):
            raise AgoraError(f"A labelling model must be a *ForSequenceClassification, got {type(model).__name__}: "
                             "fine-tune one with hf_ose.agora.train_teacher.")
        check_batching(batch_size, max_length)
        self.model, self.tokenizer = model, tokenizer
        self.batch_size, self.max_length = batch_size, max_length

    @property
    def num_labels(self) -> int:
        return int(self.model.config.num_labels)

    @property
    def label_names(self) -> tuple[str, ...] | None:
        return _config_label_names(self.model.config)

    def probabilities(self, points: Sequence[Point]) -> np.ndarray:
        texts = [sides(point) for point in points]
        if len({len(t) for t in texts}) > 1:
            raise AgoraError("The points mix sentences and sentence pairs: label one kind per call.")
        rows = [np.zeros((0, self.num_labels))]
        training = self.model.training
        self.model.eval()
        try:
            with torch.inference_mode():
                for start in range(0, len(texts), self.batch_size):
                    batch = texts[start:start + self.batch_size]
                    encoded = self.tokenizer(*map(list, zip(*batch)), padding=True, truncation=True,
                                             max_length=self.max_length, return_tensors="pt")
                    encoded = {k: v.to(self.model.device) for k, v in encoded.items()}
                    logits = self.model(**encoded).logits.double()
                    rows.append(torch.softmax(logits, dim=-1).cpu().numpy())
        finally:
            self.model.train(training)
        return np.concatenate(rows)


class PipelineLabeller(Labeller):
    """A transformers ``text-classification`` pipeline, asked for every class (``top_k=None``), its scores put
    in the order of the pipeline model's ``config.label2id``."""

    def __init__(self, pipeline: Pipeline, *, batch_size: int = 32, max_length: int = 128) -> None:
        config = getattr(getattr(pipeline, "model", None), "config", None)
        if config is None or not getattr(config, "label2id", None):
            raise AgoraError("The pipeline's model has no config.label2id: pass a pipeline('text-classification', "
                             "model=...) whose model is a sequence classifier.")
        self.pipeline = pipeline
        self.batch_size, self.max_length = batch_size, max_length
        self._columns = {str(name): int(i) for name, i in config.label2id.items()}
        self._config = config

    @property
    def num_labels(self) -> int:
        return int(self._config.num_labels)

    @property
    def label_names(self) -> tuple[str, ...] | None:
        return _config_label_names(self._config)

    def probabilities(self, points: Sequence[Point]) -> np.ndarray:
        inputs = [point if isinstance(point, str) else {"text": point[0], "text_pair": point[1]}
                  for point in points]
        out = np.zeros((len(inputs), self.num_labels))
        if not inputs:
            return out
        results = self.pipeline(inputs, top_k=None, batch_size=self.batch_size, truncation=True,
                                max_length=self.max_length)
        for row, scores in enumerate(results):
            for score in scores:
                if score["label"] not in self._columns:
                    raise AgoraError(f"The pipeline gave label {score['label']!r}, not in its model's label2id "
                                     f"{sorted(self._columns)}: fix the model config's id2label/label2id.")
                out[row, self._columns[score["label"]]] = score["score"]
        return out


class CallableLabeller(Labeller):
    """A plain ``fn(points) -> array-like (len(points), num_labels)`` of probabilities, checked on every call;
    ``num_labels=None`` takes the width of the first answer."""

    def __init__(self, fn: Callable[[list[Point]], Any], num_labels: int | None = None,
                 label_names: Sequence[str] | None = None) -> None:
        if num_labels is not None and num_labels < 2:
            raise AgoraError(f"num_labels must be at least 2, got {num_labels}.")
        if label_names is not None and num_labels is not None and len(label_names) != num_labels:
            raise AgoraError(f"{len(label_names)} label_names for {num_labels} labels: give one name per label.")
        self.fn = fn
        self._num_labels = num_labels if num_labels is not None else (len(label_names) if label_names else None)
        self._label_names = tuple(label_names) if label_names is not None else None

    @property
    def num_labels(self) -> int:
        if self._num_labels is None:
            raise AgoraError("This CallableLabeller's num_labels is not known before its first call: pass "
                             "num_labels= (or label_names=) to CallableLabeller.")
        return self._num_labels

    @property
    def label_names(self) -> tuple[str, ...] | None:
        return self._label_names

    def probabilities(self, points: Sequence[Point]) -> np.ndarray:
        points = list(points)
        if not points:
            return np.zeros((0, self.num_labels))
        try:
            out = np.asarray(self.fn(points), dtype=np.float64)
        except (TypeError, ValueError) as error:
            raise AgoraError(f"The labeller callable's answer is not a numeric array ({error}): return an array of "
                             "shape (len(points), num_labels).") from error
        width = self._num_labels if self._num_labels is not None else (out.shape[1] if out.ndim == 2 else None)
        if out.ndim != 2 or out.shape[0] != len(points) or out.shape[1] != width or width < 2:
            raise AgoraError(f"The labeller callable returned shape {out.shape} for {len(points)} points: it must "
                             f"return (len(points), num_labels{'=' + str(width) if width else ''}) probabilities "
                             "with at least 2 labels.")
        if not np.all(np.isfinite(out)) or np.any(out < 0) or not np.allclose(out.sum(axis=1), 1.0, atol=1e-4):
            raise AgoraError("The labeller callable's rows are not probabilities (non-negative, summing to 1): "
                             "apply a softmax to logits before returning them.")
        self._num_labels = width
        return out


def as_labeller(obj: Any, *, tokenizer: PreTrainedTokenizerBase | None = None, batch_size: int = 32,
                max_length: int = 128) -> Labeller:
    """A :class:`Labeller` from a Labeller (returned as is), a ``*ForSequenceClassification`` model with its
    ``tokenizer``, a saved classifier folder, a ``pipeline("text-classification")``, or a plain callable."""
    if isinstance(obj, Labeller):
        return obj
    if isinstance(obj, Pipeline):
        return PipelineLabeller(obj, batch_size=batch_size, max_length=max_length)
    if isinstance(obj, (str, Path)):
        if not Path(obj).is_dir():
            raise AgoraError(f"Labeller folder {obj} does not exist: pass a saved *ForSequenceClassification "
                             "folder (e.g. one train_teacher wrote), a model, a pipeline or a callable.")
        model = AutoModelForSequenceClassification.from_pretrained(str(obj))
        tokenizer = tokenizer or AutoTokenizer.from_pretrained(str(obj))
        return ModelLabeller(model, tokenizer, batch_size=batch_size, max_length=max_length)
    if isinstance(obj, PreTrainedModel):
        if tokenizer is None:
            raise AgoraError(f"A {type(obj).__name__} labeller needs its tokenizer: as_labeller(model, "
                             "tokenizer=AutoTokenizer.from_pretrained(...)).")
        return ModelLabeller(obj, tokenizer, batch_size=batch_size, max_length=max_length)
    if callable(obj):
        return CallableLabeller(obj)
    raise AgoraError(f"Cannot label with a {type(obj).__name__}: pass a Labeller, a *ForSequenceClassification "
                     "model with its tokenizer, a text-classification pipeline, or a callable returning "
                     "probabilities.")
