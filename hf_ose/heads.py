"""Sequence-classification heads: recognise a classifier, and put a new head on a base model's weights."""

from __future__ import annotations

import copy

from transformers import AutoModelForSequenceClassification, PretrainedConfig, PreTrainedModel
from transformers.models.auto.modeling_auto import MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES

from .errors import HfOseError

__all__ = ["ClassificationHeadError", "is_sequence_classifier", "with_classification_head"]


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
    config = copy.deepcopy(config)
    config.num_labels = num_labels
    if config.pad_token_id is None:
        config.pad_token_id = pad_token_id
    model = AutoModelForSequenceClassification.from_config(config)
    unexpected = model.base_model.load_state_dict(base.base_model.state_dict(), strict=False).unexpected_keys
    if unexpected:
        raise ClassificationHeadError(
            f"The {type(base).__name__} does not fit {type(model).__name__}'s base model (unexpected weights "
            f"{unexpected[:5]}): pass a base model of the same config, or a *ForSequenceClassification model."
        )
    return model.to(device=base.device, dtype=base.dtype)
