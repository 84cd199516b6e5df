"""Running a parent over calibration batches with hooks that see only real (unpadded) tokens."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch
from torch import nn
from transformers import PreTrainedModel

from ..torch_context import Batch
from .families import InheritanceError

__all__ = ["CalibrationRun", "as_batches"]


def as_batches(data: Mapping[str, Any] | Iterable[Mapping[str, Any]]) -> list[Batch]:
    """Normalise calibration data (one dict/BatchEncoding of tensors, or a list of them) to a list of dicts."""
    items = [data] if isinstance(data, Mapping) else list(data)
    batches = []
    for item in items:
        if not isinstance(item, Mapping) or "input_ids" not in item:
            raise InheritanceError(
                "calibration_data must be a dict/BatchEncoding with 'input_ids' (and 'attention_mask'), or a list "
                f"of them; got {type(item).__name__}. Tokenize with return_tensors='pt'."
            )
        batches.append({k: torch.as_tensor(v) for k, v in item.items()})
    if not batches:
        raise InheritanceError("calibration_data is empty; pass at least one tokenized batch, or None.")
    return batches


class CalibrationRun:
    """Forward calibration batches through ``model`` while hooks collect statistics.

    Hooks registered with :meth:`on_input` / :meth:`on_output` receive the hooked tensor flattened to
    (real tokens, features): padding positions (``attention_mask == 0``) are dropped.
    """

    def __init__(self, model: PreTrainedModel, batches: list[Batch]) -> None:
        self.model = model
        accepted = set(inspect.signature(model.forward).parameters)
        self._inputs = [{k: v for k, v in b.items() if k in accepted} for b in batches]
        self._mask: torch.Tensor | None = None
        self._handles: list[Any] = []

    def tokens(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, seq, features) -> (real tokens, features), as float32 on the CPU."""
        x = x.detach().float().cpu()
        if self._mask is None or x.dim() != 3 or x.shape[:2] != self._mask.shape:
            return x.reshape(-1, x.shape[-1])
        return x[self._mask]

    def on_input(self, module: nn.Module, fn: Callable[[torch.Tensor], None]) -> None:
        def hook(_module: nn.Module, args: tuple, kwargs: dict) -> None:
            x = args[0] if args else kwargs["hidden_states"]
            fn(self.tokens(x))

        self._handles.append(module.register_forward_pre_hook(hook, with_kwargs=True))

    def on_output(self, module: nn.Module, fn: Callable[[torch.Tensor], None]) -> None:
        def hook(_module: nn.Module, _args: tuple, output: Any) -> None:
            fn(self.tokens(output[0] if isinstance(output, tuple) else output))

        self._handles.append(module.register_forward_hook(hook))

    def on_layer(self, module: nn.Module, fn: Callable[[torch.Tensor, torch.Tensor], None]) -> None:
        """``fn(layer input, layer output)`` for a transformer layer."""
        def hook(_module: nn.Module, args: tuple, kwargs: dict, output: Any) -> None:
            x = args[0] if args else kwargs["hidden_states"]
            y = output[0] if isinstance(output, tuple) else output
            fn(self.tokens(x), self.tokens(y))

        self._handles.append(module.register_forward_hook(hook, with_kwargs=True))

    def run(self) -> None:
        """Run every batch once (eval mode, no gradients), then remove the hooks."""
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.no_grad():
                for batch in self._inputs:
                    mask = batch.get("attention_mask")
                    self._mask = mask.bool().cpu() if mask is not None else None
                    self.model(**{k: v.to(self.model.device) for k, v in batch.items()})
        finally:
            for handle in self._handles:
                handle.remove()
            self._handles.clear()
            self._mask = None
            self.model.train(was_training)
