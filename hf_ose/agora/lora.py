"""PEFT (LoRA) students: merge the adapter for export, and save a model so stock transformers loads it."""

from __future__ import annotations

import copy
from pathlib import Path

from torch import nn
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from .interfaces import AgoraError

__all__ = ["is_peft_model", "merge_lora", "save_for_transformers"]

#: Where :func:`save_for_transformers` keeps a PEFT model's adapter, inside the output folder.
ADAPTER_FOLDER = "adapter"


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
