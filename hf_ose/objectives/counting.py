"""Exact parameter counts and FLOPs, measured on the meta device (no memory, no weights), and the AB^nC report:
how they split between a model's input layer A, its n repeated blocks B and its output layer C, and whether the
property the search's guarantee leans on holds."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from functools import lru_cache

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode
from transformers import AutoModel, PretrainedConfig

from ..adapters import get_adapter
from ..architecture import Architecture


@dataclass(frozen=True)
class StaticCost:
    """Exact size and compute of one architecture.

    ``params`` counts every (shared-once) parameter of the base ``AutoModel``; ``effective_params`` leaves out
    the ``nn.Embedding`` tables, as the Bort paper does; ``flops`` is one forward pass at the counter's batch
    size and sequence length, as ``torch.utils.flop_counter`` counts it (a multiply-add is 2 FLOPs).
    """

    params: int
    effective_params: int
    flops: int

    def __add__(self, other: "StaticCost") -> "StaticCost":
        return StaticCost(*(a + b for a, b in zip(self._values(), other._values())))

    def __sub__(self, other: "StaticCost") -> "StaticCost":
        return StaticCost(*(a - b for a, b in zip(self._values(), other._values())))

    def __mul__(self, factor: int) -> "StaticCost":
        return StaticCost(*(a * factor for a in self._values()))

    def _values(self) -> tuple[int, int, int]:
        return (self.params, self.effective_params, self.flops)


def build_on_meta(config: PretrainedConfig) -> nn.Module:
    """The base ``AutoModel`` of ``config`` with every tensor on the meta device."""
    with torch.device("meta"):
        return AutoModel.from_config(config)


def parameter_counts(model: nn.Module) -> tuple[int, int]:
    """(total, non-embedding) parameter counts; shared parameters count once."""
    total = sum(p.numel() for p in model.parameters())
    embedding_params = {id(p): p.numel() for m in model.modules() if isinstance(m, nn.Embedding) for p in m.parameters()}
    return total, total - sum(embedding_params.values())


def count_flops(model: nn.Module, batch_size: int, seq_len: int) -> FlopCounterMode:
    """Run one forward pass of ``model`` on meta inputs under a FLOP counter and return the counter.

    Meta tensors have no values, and some families read values on the way: most build their attention
    mask from the mask's values, so only ``input_ids`` is passed first (a mask of ones changes no FLOP
    count); others (DeBERTa) check ``input_ids`` for padding when no mask is given, so they get one; decoders
    that look for padding in any 2-D mask (GPT-2 with a ``pad_token_id``) get a ready 4-D mask, which they
    use as it is.
    """
    input_ids = torch.zeros(batch_size, seq_len, dtype=torch.long, device="meta")
    ready_mask = torch.zeros(batch_size, 1, seq_len, seq_len, device="meta")
    attempts = ({"input_ids": input_ids}, {"input_ids": input_ids, "attention_mask": torch.ones_like(input_ids)},
                {"input_ids": input_ids, "attention_mask": ready_mask})
    for inputs in attempts:
        counter = FlopCounterMode(display=False)
        try:
            with counter, torch.no_grad():
                model(**inputs)
        except RuntimeError as error:
            if "meta" not in str(error):
                raise
            last_error = error
            continue
        return counter
    raise RuntimeError(f"Cannot count the FLOPs of {type(model).__name__} on the meta device: {last_error}")


def measure_static_cost(config: PretrainedConfig, batch_size: int, seq_len: int) -> StaticCost:
    """Instantiate ``config`` on the meta device and count it directly."""
    model = build_on_meta(config)
    params, effective = parameter_counts(model)
    return StaticCost(params, effective, count_flops(model, batch_size, seq_len).get_total_flops())


class StaticCostCounter:
    """Counts every architecture of one parent's family, fast and exactly.

    Blocks of one architecture all have the same shape, so counts are affine in depth: each width setting is
    counted at depths 1 and 2 and extended linearly. The counter checks that on the parent at construction
    (extended vs. directly counted) and counts every architecture directly where the check fails.
    """

    def __init__(self, parent: PretrainedConfig, *, batch_size: int = 1, seq_len: int = 128) -> None:
        self.parent = parent
        self.adapter = get_adapter(parent)
        self.batch_size = batch_size
        self.seq_len = seq_len
        self._measure = lru_cache(maxsize=None)(self._measure_uncached)
        parent_arch = self.adapter.read(parent)
        self.depth_affine = parent_arch.depth < 3 or self._extended(parent_arch) == self._measure(parent_arch)

    def __call__(self, arch: Architecture) -> StaticCost:
        if self.depth_affine and arch.depth > 2:
            return self._extended(arch)
        return self._measure(arch)

    def _extended(self, arch: Architecture) -> StaticCost:
        one, two = self._measure(replace(arch, depth=1)), self._measure(replace(arch, depth=2))
        return one + (two - one) * (arch.depth - 1)

    def _measure_uncached(self, arch: Architecture) -> StaticCost:
        return measure_static_cost(self.adapter.write(self.parent, arch), self.batch_size, self.seq_len)


#: The blocks must carry at least this share of both parameters and FLOPs for the property to hold.
BLOCK_SHARE_THRESHOLD = 0.5


@dataclass(frozen=True)
class ABnCReport:
    """Shares (0-1) of parameters and FLOPs in A (input layer), the n blocks B, and C (everything else)."""

    n_blocks: int
    block_path: str
    uniform_blocks: bool
    params: dict[str, float]
    flops: dict[str, float]
    holds: bool
    reason: str

    def to_dict(self) -> dict:
        return asdict(self)

    def __str__(self) -> str:
        def shares(values: dict[str, float]) -> str:
            return "  ".join(f"{part} {100 * share:5.1f}%" for part, share in values.items())

        return (
            f"AB^nC: n={self.n_blocks} blocks at '{self.block_path}' ({'uniform' if self.uniform_blocks else 'NOT uniform'})\n"
            f"  parameters: {shares(self.params)}\n"
            f"  FLOPs:      {shares(self.flops)}\n"
            f"  property {'holds' if self.holds else 'does NOT hold'}: {self.reason}"
        )


def abnc_report(config: PretrainedConfig, *, batch_size: int = 1, seq_len: int = 128) -> ABnCReport:
    """Measure the A/B/C split of ``config``'s base model on the meta device."""
    depth = get_adapter(config).read(config).depth
    model = build_on_meta(config)
    block_path, blocks = _find_blocks(model, depth)
    block_ids = {id(p) for p in blocks.parameters()}
    input_modules = [
        (name, child) for name, child in model.named_children()
        if child is not blocks and any(isinstance(m, nn.Embedding) for m in child.modules())
        and not any(m is blocks for m in child.modules())
    ]
    input_ids = {id(p) for _, child in input_modules for p in child.parameters()}
    input_ids |= {id(p) for m in model.modules() if isinstance(m, nn.Embedding) for p in m.parameters()} - block_ids
    sizes = {id(p): p.numel() for p in model.parameters()}
    total = sum(sizes.values())
    param_a = sum(sizes[k] for k in input_ids)
    param_b = sum(sizes[k] for k in block_ids)

    counts = {name: sum(ops.values()) for name, ops in count_flops(model, batch_size, seq_len).get_flop_counts().items()}
    root = type(model).__name__
    flops_total = counts.get("Global", 0)
    flops_b = sum(counts.get(f"{root}.{block_path}.{k}", 0) for k in range(len(blocks)))
    flops_a = sum(counts.get(f"{root}.{name}", 0) for name, _ in input_modules)

    param_shares = _shares(param_a, param_b, total)
    flop_shares = _shares(flops_a, flops_b, flops_total)
    uniform = len({sum(p.numel() for p in block.parameters()) for block in blocks}) == 1
    holds = uniform and param_shares["B"] >= BLOCK_SHARE_THRESHOLD and flop_shares["B"] >= BLOCK_SHARE_THRESHOLD
    if not uniform:
        reason = "the blocks differ in size; the search needs n identical blocks."
    elif holds:
        reason = f"n identical blocks carry at least {BLOCK_SHARE_THRESHOLD:.0%} of parameters and FLOPs."
    else:
        weak = [kind for kind, shares in (("parameters", param_shares), ("FLOPs", flop_shares)) if shares["B"] < BLOCK_SHARE_THRESHOLD]
        reason = (
            f"the blocks carry under {BLOCK_SHARE_THRESHOLD:.0%} of the {' and '.join(weak)} (A/C dominate, e.g. a "
            "large vocabulary): size and cost then change little with the architecture, so the (1+eps) "
            "guarantee is coarse relative to the blocks' cost."
        )
    return ABnCReport(len(blocks), block_path, uniform, param_shares, flop_shares, holds, reason)


def _find_blocks(model: nn.Module, depth: int) -> tuple[str, nn.ModuleList]:
    """The ``nn.ModuleList`` of ``depth`` blocks holding the most parameters."""
    lists = [
        (name, module) for name, module in model.named_modules()
        if isinstance(module, nn.ModuleList) and len(module) == depth
    ]
    if not lists:
        raise ValueError(f"{type(model).__name__} has no list of {depth} blocks; the AB^nC report needs one.")
    return max(lists, key=lambda item: sum(p.numel() for p in item[1].parameters()))


def _shares(a: float, b: float, total: float) -> dict[str, float]:
    total = total or 1
    return {"A": a / total, "B": b / total, "C": (total - a - b) / total}
