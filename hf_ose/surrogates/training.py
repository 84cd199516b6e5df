"""The few optimisation steps every surrogate takes, seeded and thread-bounded."""

from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import nn
from transformers import get_linear_schedule_with_warmup

from ..torch_context import Batch, seeded

def train_steps(
    model: nn.Module,
    batches: Sequence[Batch],
    loss_of: Callable[[int, Batch], torch.Tensor],
    learning_rate: float,
    *,
    warmup: float | None = None,
    max_grad_norm: float | None = None,
) -> bool:
    """One AdamW step per batch over the parameters that require gradients, **no weight decay**; ``False`` as
    soon as a loss is not finite.

    ``warmup``: a fraction of the steps over which the learning rate rises linearly before it decays
    linearly to zero at the last batch (``None``: constant). ``max_grad_norm``: clip the gradient norm.
    """
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=learning_rate, weight_decay=0.0)
    schedule = None
    if warmup is not None:
        schedule = get_linear_schedule_with_warmup(optimizer, int(warmup * len(batches)), len(batches))
    for index, batch in enumerate(batches):
        optimizer.zero_grad(set_to_none=True)
        loss = loss_of(index, batch)
        if not torch.isfinite(loss):
            return False
        loss.backward()
        if max_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_(trainable, max_grad_norm)
        optimizer.step()
        if schedule is not None:
            schedule.step()
    return True


class PicklableParent:
    """Mixin for surrogates that hold a ``parent`` model and must travel to worker processes.

    Transformers installs local-function hooks on a model's first forward with hidden states, which pickle
    cannot carry; the parent travels as (class, config, weights) and is rebuilt on arrival.
    """

    parent: nn.Module

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["parent"] = (type(self.parent), self.parent.config, self.parent.state_dict())
        return state

    def __setstate__(self, state: dict) -> None:
        model_class, config, weights = state["parent"]
        with seeded(0):
            parent = model_class(config)
        parent.load_state_dict(weights)
        state["parent"] = parent.eval()
        self.__dict__.update(state)
