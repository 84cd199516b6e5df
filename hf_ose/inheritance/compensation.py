"""Compensating a residual-width cut with calibration statistics (closed form, no training).

Keeping H_s of the parent's H residual dimensions breaks two things; each gets a fix fitted on the parent's
own activations:

* **Norm statistics** (``norm_scales``): a LayerNorm/RMSNorm over the kept dimensions divides by their std
  (RMS), not by the std over all H. Per norm, the gain is multiplied by the mean over calibration tokens of
  ``std_kept(x) / std(x)`` at that norm's input, so the kept features leave it at the parent's scale. Only
  norms whose output a later layer reads are rescaled: the embedding norm and the kept layers' norms, but
  not the norm that produces the last hidden state (last kept layer's output norm in post-norm families,
  the final norm in pre-norm ones) nor output-head norms.
* **Residual reads** (:class:`ReadMap`): a projection that reads the stream (query/key/value, feed-forward
  input) loses the dropped dimensions' contribution. They are predicted from the kept ones by ridge
  regression, ``x_dropped ~ A x_kept + c``, and folded into the weights (``W' = W_kept + W_dropped A``,
  ``b' = b + W_dropped c``): the least-squares optimal read of the kept dimensions. The statistics are
  taken where the student reads: student layer k's attention reads the stream the parent passes to the
  layer after the student's previous one. Reads outside the layers (pooler, output heads, tied decoders)
  stay plain selections, so tied weights stay tied.

What each fix gains, and what was tried and dropped, is measured in ``docs/surrogates.md``.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import PreTrainedModel

from ..adapters import FamilyLayout
from ..torch_context import Batch
from .calibration import CalibrationRun
from .families import is_norm
from .selection import InheritancePlan, ReadMap

__all__ = ["fit_width_cut"]


class _ScaleRatio:
    """Mean over tokens of ``std_kept(x) / std(x)`` at a norm's input (RMS instead of std for RMSNorm)."""

    def __init__(self, module: nn.Module, kept: torch.Tensor) -> None:
        self.kept, self.centred = kept, isinstance(module, nn.LayerNorm)
        self.eps = float(getattr(module, "eps", None) or getattr(module, "variance_epsilon", 1e-6))
        self.total, self.count = 0.0, 0

    def _scale(self, x: torch.Tensor) -> torch.Tensor:
        if self.centred:
            x = x - x.mean(-1, keepdim=True)
        return (x.pow(2).mean(-1) + self.eps).sqrt()

    def __call__(self, x: torch.Tensor) -> None:
        self.total += float((self._scale(x[:, self.kept]) / self._scale(x)).sum())
        self.count += x.shape[0]

    @property
    def ratio(self) -> float:
        return self.total / max(self.count, 1)


class _Gram:
    """Running first and second moments of a residual read."""

    def __init__(self, width: int) -> None:
        self.sum = torch.zeros(width, dtype=torch.float64)
        self.outer = torch.zeros(width, width, dtype=torch.float64)
        self.count = 0

    def __call__(self, x: torch.Tensor) -> None:
        x = x.double()
        self.sum += x.sum(0)
        self.outer += x.t() @ x
        self.count += x.shape[0]

    def read_map(self, kept: torch.Tensor, ridge: float) -> ReadMap:
        mean = self.sum / self.count
        cov = self.outer / self.count - torch.outer(mean, mean)
        dropped = torch.ones(mean.numel(), dtype=torch.bool)
        dropped[kept] = False
        c_kk = cov[kept][:, kept]
        c_dk = cov[dropped][:, kept]
        c_kk = c_kk + ridge * c_kk.diagonal().mean() * torch.eye(kept.numel(), dtype=c_kk.dtype)
        a = torch.linalg.solve(c_kk, c_dk.t()).t()  # (dropped, kept)
        matrix = torch.zeros(mean.numel(), kept.numel(), dtype=torch.float64)
        matrix[kept, torch.arange(kept.numel())] = 1.0
        matrix[dropped] = a
        offset = torch.zeros_like(mean)
        offset[dropped] = mean[dropped] - a @ mean[kept]
        return ReadMap(matrix.float(), offset.float())


def _rescaled_norms(
    parent: PreTrainedModel, layout: FamilyLayout, layers_name: str, plan: InheritancePlan
) -> list[str]:
    """Hidden-size norms whose output a later layer reads: the norm of an embeddings block (BERT's, not
    GPT-2's ``ln_f`` beside ``wte``) and the kept layers' norms, except (post-norm families) the last norm of
    the last kept layer, which produces the output."""
    hidden = parent.config.hidden_size
    norms = [n for n, m in parent.named_modules() if is_norm(m) and m.weight.numel() == hidden]
    embed_name = next(n for n, m in parent.named_modules() if m is parent.get_input_embeddings())
    embed_block = embed_name.rpartition(".")[0]
    own_block = not layers_name.startswith(f"{embed_block}.") and embed_block != ""  # BERT's `embeddings`
    chosen = [n for n in norms if own_block and n.rpartition(".")[0] == embed_block]
    for i, old in enumerate(plan.layers):
        in_layer = [n for n in norms if n.startswith(f"{layers_name}.{old}.")]
        if layout.post_norm and i == len(plan.layers) - 1:
            in_layer = in_layer[:-1]
        chosen += in_layer
    return chosen


def fit_width_cut(
    parent: PreTrainedModel,
    layout: FamilyLayout,
    layers: nn.ModuleList,
    layers_name: str,
    plan: InheritancePlan,
    batches: list[Batch],
    ridge: float = 1e-2,
) -> tuple[dict[str, ReadMap], dict[str, float]]:
    """Read maps for the kept layers' residual reads and gain scales of the norms (one calibration pass).

    Keys are parent module names. ``ridge`` is relative to the mean variance of the kept dimensions.
    """
    kept, hidden = plan.hidden, parent.config.hidden_size
    run = CalibrationRun(parent, batches)
    norms = _rescaled_norms(parent, layout, layers_name, plan)
    ratios = {name: _ScaleRatio(parent.get_submodule(name), kept) for name in norms}
    for name, ratio in ratios.items():
        run.on_input(parent.get_submodule(name), ratio)
    attention = (layout.fused_qkv,) if layout.fused_qkv else (layout.query, layout.key, layout.value)
    # Student layer k reads the stream where the parent's layer after the student's previous one reads it.
    sources = [(0 if k == 0 else plan.layers[k - 1] + 1, attention, old) for k, old in enumerate(plan.layers)]
    sources += [(old, layout.ffn_in, old) for old in plan.layers]
    grams = {(src, group[0]): _Gram(hidden) for src, group, _ in sources}
    for (src, path), gram in grams.items():
        run.on_input(layers[src].get_submodule(path), gram)
    run.run()
    read_maps = {}
    for src, group, old in sources:
        read_map = grams[(src, group[0])].read_map(kept, ridge)
        read_maps.update({f"{layers_name}.{old}.{path}": read_map for path in group})
    return read_maps, {name: ratio.ratio for name, ratio in ratios.items()}
