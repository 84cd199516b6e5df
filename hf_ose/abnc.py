"""The AB^nC report: how a model's parameters and FLOPs split between its input layer A, its n repeated
blocks B and its output layer C, and whether the property the search's guarantee leans on holds."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from torch import nn
from transformers import PretrainedConfig

from .adapters import get_adapter
from .objectives.counting import build_on_meta, count_flops

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
