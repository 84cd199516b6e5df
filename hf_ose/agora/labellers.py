"""Labellers: a task model (sequence or token classification, or regression), a ``text-classification``
pipeline, or a plain callable, each labelling points in the task's label space (see
:class:`~hf_ose.agora.interfaces.Labeller`). The usual one, the parent fine-tuned on the task, is made by
:func:`~hf_ose.agora.finetuning.train_teacher` (re-exported here)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence

import numpy as np
import torch
from transformers import (AutoConfig, AutoModelForSequenceClassification, AutoModelForTokenClassification,
                          AutoTokenizer, Pipeline, PreTrainedModel, PreTrainedTokenizerBase)

from ..finetune import is_sequence_classifier
from .finetuning import train_teacher  # noqa: F401 (re-exported: the teacher is the usual labeller)
from .kinds import is_token_classifier
from .interfaces import AgoraError, Labeller, Point, TokenizedPoint, check_batching, sides

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
    """A task model run in eval mode, in batches, without gradients: a ``*ForSequenceClassification`` gives class
    probabilities (its softmax) or, with ``num_labels == 1``, scores; a ``*ForTokenClassification`` gives tag
    probabilities per token. ``tokenizer`` encodes raw text (pairs as pairs, cut at ``max_length`` tokens) and
    pads tokenized points, which must use its vocabulary."""

    def __init__(self, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, *, batch_size: int = 32,
                 max_length: int = 128) -> None:
        if not (is_sequence_classifier(model) or is_token_classifier(model)):
            raise AgoraError(f"A labelling model must be a *ForSequenceClassification or *ForTokenClassification, "
                             f"got {type(model).__name__}: fine-tune one with hf_ose.agora.train_teacher.")
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
        self._expect(sequence=True, scores=False)
        rows = [torch.softmax(logits, dim=-1).numpy() for logits, _ in self._batches(points)]
        return np.concatenate([np.zeros((0, self.num_labels)), *rows])

    def scores(self, points: Sequence[Point]) -> np.ndarray:
        self._expect(sequence=True, scores=True)
        return np.concatenate([np.zeros(0), *(logits[:, 0].numpy() for logits, _ in self._batches(points))])

    def tag_probabilities(self, points: Sequence[TokenizedPoint]) -> list[np.ndarray]:
        self._expect(sequence=False, scores=False)
        out = []
        for logits, mask in self._batches(points):
            out += [torch.softmax(row[keep], dim=-1).numpy() for row, keep in zip(logits, mask.bool())]
        return out

    def _expect(self, sequence: bool, scores: bool) -> None:
        """Refuse a question the model's head cannot answer."""
        name = type(self.model).__name__
        if sequence != is_sequence_classifier(self.model):
            raise AgoraError(f"The labeller {name} does not match the task: tag tokens with a "
                             "*ForTokenClassification, label rows with a *ForSequenceClassification.")
        if sequence and scores != (self.num_labels == 1):
            raise AgoraError(f"The labeller {name} has num_labels={self.num_labels}: a regression task needs a "
                             "labeller with one output (num_labels=1), a classification task one with a class each.")

    def _batches(self, points: Sequence[Point]) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Float64 logits on the CPU and the attention mask, per batch of ``points``."""
        points = list(points)
        tokenized = [isinstance(point, TokenizedPoint) for point in points]
        if any(tokenized) and not all(tokenized) or \
                not any(tokenized) and len({len(sides(point)) for point in points}) > 1:
            raise AgoraError("The points mix sentences and sentence pairs (or tokenized points): label one kind per "
                             "call.")
        training = self.model.training
        self.model.eval()
        try:
            with torch.inference_mode():
                for start in range(0, len(points), self.batch_size):
                    encoded = self._encode(points[start:start + self.batch_size])
                    logits = self.model(**{k: v.to(self.model.device) for k, v in encoded.items()}).logits
                    yield logits.double().cpu(), encoded["attention_mask"]
        finally:
            self.model.train(training)

    def _encode(self, batch: list[Point]) -> dict[str, torch.Tensor]:
        if isinstance(batch[0], TokenizedPoint):
            return dict(self.tokenizer.pad([point.inputs() for point in batch], return_tensors="pt",
                                           return_attention_mask=True))
        texts = [sides(point) for point in batch]
        return dict(self.tokenizer(*map(list, zip(*texts)), padding=True, truncation=True,
                                   max_length=self.max_length, return_tensors="pt"))


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
    """A plain callable, checked on every call: ``fn(points)`` returns an array-like ``(len(points), num_labels)``
    of class probabilities (classification), ``(len(points),)`` scores (regression), or, for tokenized points, a
    list of ``(tokens, num_labels)`` tag probabilities (token classification), whichever the task asks for.
    ``num_labels=None`` takes the width of the first answer (1 for scores)."""

    def __init__(self, fn: Callable[[list[Point]], Any], num_labels: int | None = None,
                 label_names: Sequence[str] | None = None) -> None:
        if num_labels is not None and num_labels < 1:
            raise AgoraError(f"num_labels must be at least 1 (1 for scores), got {num_labels}.")
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

    def _call(self, points: list[Point]) -> Any:
        try:
            return self.fn(points)
        except (TypeError, ValueError) as error:
            raise AgoraError(f"The labeller callable failed on {len(points)} points ({error}): it takes a list of "
                             "points and returns their labels.") from error

    def _array(self, answer: Any) -> np.ndarray:
        try:
            return np.asarray(answer, dtype=np.float64)
        except (TypeError, ValueError) as error:
            raise AgoraError(f"The labeller callable's answer is not a numeric array ({error}): return an array of "
                             "shape (len(points), num_labels).") from error

    def _probability_rows(self, out: np.ndarray, rows: int, what: str) -> np.ndarray:
        """``out`` checked as ``rows`` rows of probabilities over at least 2 labels; fixes ``num_labels``."""
        width = self._num_labels if self._num_labels is not None else (out.shape[1] if out.ndim == 2 else None)
        if out.ndim != 2 or out.shape[0] != rows or out.shape[1] != width or width < 2:
            raise AgoraError(f"The labeller callable returned shape {out.shape} for {what}: it must return "
                             f"({rows}, num_labels{'=' + str(width) if width else ''}) probabilities with at least "
                             "2 labels.")
        if not np.all(np.isfinite(out)) or np.any(out < 0) or not np.allclose(out.sum(axis=1), 1.0, atol=1e-4):
            raise AgoraError("The labeller callable's rows are not probabilities (non-negative, summing to 1): "
                             "apply a softmax to logits before returning them.")
        self._num_labels = width
        return out

    def probabilities(self, points: Sequence[Point]) -> np.ndarray:
        points = list(points)
        if not points:
            return np.zeros((0, self.num_labels))
        return self._probability_rows(self._array(self._call(points)), len(points), f"{len(points)} points")

    def scores(self, points: Sequence[Point]) -> np.ndarray:
        points = list(points)
        out = self._array(self._call(points)) if points else np.zeros(0)
        if out.ndim == 2 and out.shape[1:] == (1,):
            out = out[:, 0]
        if out.shape != (len(points),) or not np.all(np.isfinite(out)) or self._num_labels not in (None, 1):
            raise AgoraError(f"The labeller callable returned shape {out.shape} for {len(points)} points: a "
                             "regression labeller returns one finite score per point (and has num_labels=1).")
        self._num_labels = 1
        return out

    def tag_probabilities(self, points: Sequence[TokenizedPoint]) -> list[np.ndarray]:
        points = list(points)
        answers = list(self._call(points)) if points else []
        if len(answers) != len(points):
            raise AgoraError(f"The labeller callable returned {len(answers)} tag arrays for {len(points)} points: "
                             "return one (tokens, num_labels) array per point.")
        return [self._probability_rows(self._array(answer), len(point.input_ids),
                                       f"a point of {len(point.input_ids)} tokens")
                for point, answer in zip(points, answers)]


def as_labeller(obj: Any, *, tokenizer: PreTrainedTokenizerBase | None = None, batch_size: int = 32,
                max_length: int = 128) -> Labeller:
    """A :class:`Labeller` from a Labeller (returned as is), a ``*ForSequenceClassification`` or
    ``*ForTokenClassification`` model with its ``tokenizer``, a saved one's folder, a
    ``pipeline("text-classification")``, or a plain callable."""
    if isinstance(obj, Labeller):
        return obj
    if isinstance(obj, Pipeline):
        return PipelineLabeller(obj, batch_size=batch_size, max_length=max_length)
    if isinstance(obj, (str, Path)):
        if not Path(obj).is_dir():
            raise AgoraError(f"Labeller folder {obj} does not exist: pass a saved *ForSequenceClassification or "
                             "*ForTokenClassification folder (e.g. one train_teacher wrote), a model, a pipeline or "
                             "a callable.")
        architectures = AutoConfig.from_pretrained(str(obj)).architectures or ()
        tags = any(name.endswith("ForTokenClassification") for name in architectures)
        model = (AutoModelForTokenClassification if tags else AutoModelForSequenceClassification).from_pretrained(
            str(obj))
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
                     "or *ForTokenClassification model with its tokenizer, a text-classification pipeline, or a "
                     "callable returning labels.")
