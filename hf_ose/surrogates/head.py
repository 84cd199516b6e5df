"""Start a new classification head where a linear probe on the inherited features ends.

A randomly initialised head spends the first optimisation steps learning what a convex fit finds at once, and
its seed-dependent start dominates a short run. Fitting the head's output layer first (multinomial logistic
regression on the features it reads, with the base model frozen) makes even a few task steps informative.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..torch_context import Batch


def output_layer(model: nn.Module, num_labels: int) -> nn.Linear:
    """The last ``nn.Linear`` that produces ``num_labels`` outputs: the classifier's output layer
    (``classifier`` for BERT, ``classifier.out_proj`` for RoBERTa, ``score`` for GPT-2 and Llama)."""
    layers = [m for m in model.modules() if isinstance(m, nn.Linear) and m.out_features == num_labels]
    if not layers:
        raise ValueError(f"{type(model).__name__} has no linear layer with {num_labels} outputs to fit as its head.")
    return layers[-1]


def fit_linear_head(
    model: nn.Module, batches: Sequence[Batch], num_labels: int, l2: float = 1e-2, max_iter: int = 200
) -> None:
    """Fit ``model``'s output layer by L2-regularised logistic regression (L-BFGS) on the raw features it reads
    for ``batches`` (inputs and ``labels``), the rest of the model fixed and in eval mode.

    The penalty is deliberately strong for unstandardised features: the head starts small and pointing the
    right way, so the task steps still train the base model rather than only the head (why: docs/surrogates.md)."""
    layer = output_layer(model, num_labels)
    read: list[torch.Tensor] = []
    hook = layer.register_forward_hook(lambda _module, inputs, _output: read.append(inputs[0].detach()))
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            for batch in batches:
                model(**{k: v for k, v in batch.items() if k != "labels"})
    finally:
        hook.remove()
        model.train(was_training)
    x = torch.cat([_per_example(f, b["attention_mask"]) for f, b in zip(read, batches)]).float()
    y = torch.cat([b["labels"] for b in batches])
    weight = torch.zeros(num_labels, x.shape[1], requires_grad=True)
    bias = torch.zeros(num_labels, requires_grad=True)
    optimizer = torch.optim.LBFGS([weight, bias], max_iter=max_iter, line_search_fn="strong_wolfe")

    def objective() -> torch.Tensor:
        optimizer.zero_grad()
        loss = F.cross_entropy(x @ weight.T + bias, y) + l2 * weight.square().sum()
        loss.backward()
        return loss

    optimizer.step(objective)
    with torch.no_grad():
        layer.weight.copy_(weight.to(layer.weight.dtype))
        if layer.bias is not None:
            layer.bias.copy_(bias.to(layer.bias.dtype))


def _per_example(features: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """One feature row per example: encoder heads read one vector; decoder heads (GPT-2, Llama) read every
    position and keep the last real token's logits."""
    if features.dim() == 2:
        return features
    last = attention_mask.cumsum(-1).argmax(-1)
    return features[torch.arange(len(features)), last]
