"""Fine-tuning a sequence classifier: put a task's head on a base model's weights, fine-tune it (an inherited
student with its head) on labelled rows and score it; embed sentences (mean pooling, normalised) to score an
encoder on sentence similarity; find the Trainer checkpoint to resume from."""

from __future__ import annotations

import copy
import json
import logging
import math
import re
import shutil
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from transformers import (
    AutoModelForSequenceClassification, PretrainedConfig, PreTrainedModel, PreTrainedTokenizerBase,
    get_linear_schedule_with_warmup,
)
from transformers.models.auto.modeling_auto import MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from .data import padding_tokenizer, tokenize
from .exceptions import HfOseError
from .torch_context import torch_threads

__all__ = [
    "ClassificationHeadError", "FineTuneError", "TRAINER_STATE", "accuracy", "fine_tune_classifier",
    "is_sequence_classifier", "last_complete_checkpoint", "sentence_embeddings", "with_classification_head",
    "with_task_head",
]

logger = logging.getLogger(__name__)

#: ``Trainer._save_checkpoint`` writes this file last: a checkpoint without it (or with it cut short) is partial.
TRAINER_STATE = "trainer_state.json"
_CHECKPOINT_NAME = re.compile(rf"^{PREFIX_CHECKPOINT_DIR}-(\d+)$")


class FineTuneError(HfOseError, ValueError):
    """The model, the rows or the settings given to a fine-tune are unusable."""


class ClassificationHeadError(HfOseError, ValueError):
    """A model's weights do not fit the base model of the classifier built for it."""


def is_sequence_classifier(model: PreTrainedModel) -> bool:
    """Whether ``model`` is one of transformers' ``*ForSequenceClassification`` models."""
    return type(model).__name__ in MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES.values()


def with_classification_head(base: PreTrainedModel, config: PretrainedConfig, num_labels: int,
                             pad_token_id: int | None = None) -> PreTrainedModel:
    """``AutoModelForSequenceClassification`` of ``config`` whose base model holds ``base``'s weights; the new
    parts (classifier, a pooler the base lacks) are initialised from the current torch seed. ``pad_token_id``
    fills a config that has none (decoder heads find each sequence's last real token by it)."""
    return with_task_head(base, config, AutoModelForSequenceClassification, pad_token_id, num_labels=num_labels)


def with_task_head(base: PreTrainedModel, config: PretrainedConfig, auto_class: Any,
                   pad_token_id: int | None = None, **head: Any) -> PreTrainedModel:
    """``auto_class`` (e.g. ``AutoModelForTokenClassification``) of ``config`` updated with ``head`` (its
    ``num_labels``, labels, ``problem_type``), whose base model holds ``base``'s weights; the new parts are
    initialised from the current torch seed. ``pad_token_id`` fills a config that has none."""
    config = copy.deepcopy(config)
    config.update(head)
    if config.pad_token_id is None:
        config.pad_token_id = pad_token_id
    model = auto_class.from_config(config)
    unexpected = model.base_model.load_state_dict(base.base_model.state_dict(), strict=False).unexpected_keys
    if unexpected:
        raise ClassificationHeadError(
            f"The {type(base).__name__} does not fit {type(model).__name__}'s base model (unexpected weights "
            f"{unexpected[:5]}): pass a base model of the same config, or a model with the task's head."
        )
    return model.to(device=base.device, dtype=base.dtype)


def fine_tune_classifier(
    model: PreTrainedModel,
    train_texts: Sequence[str],
    train_labels: Sequence[int],
    tokenizer: PreTrainedTokenizerBase,
    *,
    epochs: int = 1,
    batch_size: int = 16,
    lr: float = 1e-4,
    seed: int = 0,
    max_length: int = 64,
    warmup: float = 0.1,
    weight_decay: float = 0.01,
    max_grad_norm: float = 1.0,
    threads: int | None = None,
) -> list[float]:
    """Fine-tune ``model``, a ``*ForSequenceClassification`` (e.g. an inherited student given a head by
    :func:`with_classification_head`), in place on the labelled rows; return the training loss of
    every step. The model is left in eval mode.

    The recipe of a downstream fine-tune: every epoch visits the rows in a fresh random order drawn from a
    generator seeded with ``seed``, in batches of ``batch_size`` (the last may be smaller), each tokenized
    (padded to its longest row, truncated at ``max_length``); AdamW over all parameters at ``lr`` with
    ``weight_decay``, the learning rate rising linearly over the first ``warmup`` fraction of the steps and
    falling linearly to zero at the last, gradients clipped at norm ``max_grad_norm``, dropout on.

    ``seed`` fixes the batch order only. Dropout draws from torch's global generator, which this function
    neither seeds nor restores: seed it before building the model (``torch.manual_seed`` or
    :func:`hf_ose.torch_context.seeded`), as the new head's initialisation needs it too, and the run is
    reproducible bit for bit.
    """
    texts, labels = _checked_rows(model, train_texts, train_labels)
    if min(epochs, batch_size) < 1 or not 0.0 <= warmup <= 1.0:
        raise FineTuneError(f"epochs={epochs}, batch_size={batch_size}, warmup={warmup}: give epochs and "
                            "batch_size >= 1 and a warm-up fraction in [0, 1].")
    tokenizer = padding_tokenizer(tokenizer)
    total = epochs * math.ceil(len(texts) / batch_size)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    schedule = get_linear_schedule_with_warmup(optimizer, int(warmup * total), total)
    order = torch.Generator().manual_seed(seed)
    losses = []
    model.train()
    with torch_threads(threads):
        for _ in range(epochs):
            for chunk in torch.randperm(len(texts), generator=order).split(batch_size):
                rows = chunk.tolist()
                batch = tokenize(tokenizer, [texts[k] for k in rows], max_length)
                loss = model(**batch, labels=torch.tensor([labels[k] for k in rows])).loss
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
                optimizer.step()
                schedule.step()
                losses.append(float(loss.detach()))
    model.eval()
    return losses


def accuracy(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, texts: Sequence[str],
             labels: Sequence[int], *, max_length: int = 64, batch_size: int = 64,
             threads: int | None = None) -> float:
    """The share of ``texts`` whose arg-max class is the label (eval mode, batches of ``batch_size``)."""
    texts, labels = _checked_rows(model, texts, labels)
    tokenizer = padding_tokenizer(tokenizer)
    model.eval()
    correct = 0
    with torch_threads(threads), torch.inference_mode():
        for start in range(0, len(texts), batch_size):
            logits = model(**tokenize(tokenizer, texts[start : start + batch_size], max_length)).logits
            correct += int((logits.argmax(-1) == torch.tensor(labels[start : start + batch_size])).sum())
    return correct / len(texts)


def sentence_embeddings(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, texts: Sequence[str], *,
                        max_length: int = 128, batch_size: int = 64, threads: int | None = None) -> np.ndarray:
    """One unit-length vector per text: the mean of ``model``'s base-model last hidden states over the real
    tokens (sentence-transformers' mean pooling, then normalised), in eval mode, in batches."""
    tokenizer = padding_tokenizer(tokenizer)
    base = model.base_model
    vectors = []
    model.eval()
    with torch_threads(threads), torch.inference_mode():
        for start in range(0, len(texts), batch_size):
            batch = tokenize(tokenizer, list(texts[start : start + batch_size]), max_length)
            hidden = base(**{k: v.to(model.device) for k, v in batch.items()}).last_hidden_state
            mask = batch["attention_mask"].to(hidden.device).unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            vectors.append(torch.nn.functional.normalize(pooled.float(), dim=-1).cpu().numpy())
    return np.concatenate(vectors) if vectors else np.zeros((0, model.config.hidden_size), dtype=np.float32)


def _checked_rows(model: PreTrainedModel, texts: Sequence[str],
                  labels: Sequence[int]) -> tuple[list[str], list[int]]:
    """The rows as lists, once they fit each other and the model's classification head."""
    texts, labels = list(texts), [int(label) for label in labels]
    if not texts or len(texts) != len(labels):
        raise FineTuneError(f"{len(texts)} texts and {len(labels)} labels: give one integer label per text, "
                            "and at least one row.")
    if not is_sequence_classifier(model):
        raise FineTuneError(f"{type(model).__name__} is not a sequence classifier: wrap the student with "
                            "hf_ose.finetune.with_classification_head(student, config, num_labels) first.")
    num_labels = model.config.num_labels
    if min(labels) < 0 or max(labels) >= num_labels:
        raise FineTuneError(f"Labels span [{min(labels)}, {max(labels)}] but the model's head has {num_labels} "
                            "classes: number the labels 0..num_labels-1, or build the head with more labels.")
    return texts, labels


def last_complete_checkpoint(folder: str | Path) -> str | None:
    """The newest checkpoint in ``folder`` whose trainer state was written in full; ``None`` if there is none.
    Partial checkpoints (a process killed while saving) are removed, with a warning: nothing can resume from
    them, and ``Trainer`` would otherwise pick one as the latest."""
    folder = Path(folder)
    if not folder.is_dir():
        return None
    found = sorted(((int(match.group(1)), path) for path in folder.iterdir()
                    if path.is_dir() and (match := _CHECKPOINT_NAME.match(path.name))), reverse=True)
    for _, path in found:
        if _checkpoint_complete(path):
            return str(path)
        logger.warning("Removing the partial checkpoint %s (its process was stopped while saving it).", path)
        shutil.rmtree(path)
    return None


def _checkpoint_complete(checkpoint: Path) -> bool:
    try:
        json.loads((checkpoint / TRAINER_STATE).read_text())
    except (OSError, ValueError):
        return False
    return True
