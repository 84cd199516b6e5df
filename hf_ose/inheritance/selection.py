"""From importance scores to an :class:`InheritancePlan`: which parent layer, head, dimension and neuron
fills each place in the student.

Every selection keeps the parent's order (sorted indices), so a student with the parent's shape is the
parent, bit for bit.

Attention heads are assigned per key/value head. A student head with the parent's head size or a narrower one
takes one parent head: the most important heads, and in each its most important query/key and value
dimensions (rotary families instead keep every ``d_parent / d_student``-th frequency pair, so that each kept
dimension rotates at the frequency the student's rotary embedding gives it). A student head wider than a
parent head combines parent heads: the most important parent heads, their dimensions concatenated and cut
into student heads (the least important one may be split); a student with more key/value heads than the
parent is cut from the same concatenation. Queries are scaled so that a student logit is
the parent's partial logit (narrower) or the mean of the combined heads' logits (wider):
``query_scale = sqrt(min(d_s, d_p) / max(d_s, d_p))``. With grouped-query attention, each query slot takes
a query head from the parent group of the key/value head that fills the slot, the most important first;
where the student's groups are larger than the parent's, heads are reused and the output-projection
columns divided by the reuse count.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from ..adapters import AttentionShape
from .families import InheritanceError

__all__ = ["AttentionPlan", "InheritancePlan", "ReadMap", "select_attention", "select_layers", "top_k"]


@dataclass(frozen=True)
class AttentionPlan:
    """Flat parent indices for the student's query/key/value rows and output-projection columns."""

    q: torch.Tensor
    k: torch.Tensor
    v: torch.Tensor
    o: torch.Tensor
    query_scale: float = 1.0
    o_scale: torch.Tensor | None = None  # per output-projection column, where a parent head is reused


@dataclass(frozen=True)
class ReadMap:
    """A residual read ``W x`` becomes ``W (M x_s + c)``: ``matrix`` M (H_parent, H_student), ``offset`` c."""

    matrix: torch.Tensor
    offset: torch.Tensor


@dataclass
class InheritancePlan:
    """Everything :func:`~hf_ose.inheritance.slicing.student_state_dict` needs. Lists are per student layer."""

    layers: list[int]
    hidden: torch.Tensor
    embedding: torch.Tensor | None
    attention: list[AttentionPlan]
    ffn: list[torch.Tensor]
    read_maps: dict[str, ReadMap] = field(default_factory=dict)  # keyed by parent module name
    norm_scales: dict[str, float] = field(default_factory=dict)  # gain factor, keyed by parent module name


def top_k(scores: torch.Tensor, k: int) -> torch.Tensor:
    """Indices of the ``k`` highest scores (ties: lower index first), in ascending order."""
    return torch.argsort(-scores, stable=True)[:k].sort().values


def select_layers(parent_depth: int, depth: int, scores: torch.Tensor | None = None) -> list[int]:
    """Evenly spaced layers, always the first and the last (``round(linspace(0, D-1, d))``); a one-layer
    student keeps the last, which writes the output representation (on all-MiniLM-L6-v2 its step-0 loss
    relative to random init is 0.06 against 0.17-0.21 for any other layer). With ``scores``, the ``depth``
    highest-scoring layers instead."""
    if scores is not None:
        return top_k(scores, depth).tolist()
    if depth == 1:
        return [parent_depth - 1]
    return [round(i * (parent_depth - 1) / (depth - 1)) for i in range(depth)]


def _rotary_dims(parent_dim: int, dim: int) -> torch.Tensor:
    """Every ``parent_dim/dim``-th rotary pair (p, p + parent_dim/2), placed where the student rotates it."""
    half = torch.tensor([t * parent_dim // dim for t in range(dim // 2)])
    return torch.cat([half, half + parent_dim // 2])


def _kv_slots(
    parent: AttentionShape,
    student: AttentionShape,
    kv_scores: torch.Tensor,
    qk: torch.Tensor,
    vd: torch.Tensor,
    rotary: bool,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(parent kv head, query/key dim, value dim) for each student kv head and slot: three (KV_s, d_s) tensors."""
    dp, ds, n_kv = parent.head_dim, student.head_dim, student.kv_heads
    if ds <= dp and n_kv <= parent.kv_heads:
        chosen = top_k(kv_scores, n_kv)
        qk_dims = torch.stack([_rotary_dims(dp, ds) if rotary else top_k(qk[h], ds) for h in chosen.tolist()])
        v_dims = torch.stack([top_k(vd[h], ds) for h in chosen.tolist()])
        return chosen[:, None].expand(n_kv, ds), qk_dims, v_dims
    if rotary:
        raise InheritanceError(
            f"The variant has {n_kv} key/value heads of size {ds}, the parent {parent.kv_heads} of size {dp}: a "
            "rotary family cannot combine or split heads (rotation frequencies would not match). Use at most "
            f"{parent.kv_heads} key/value heads and head_dim <= {dp} in the variant config."
        )
    total = n_kv * ds
    full, rest = divmod(total, dp)
    ranked = torch.argsort(-kv_scores, stable=True)
    heads = ranked[:full].sort().values.tolist()
    slots = [(h, p, p) for h in heads for p in range(dp)]
    if rest:
        partial = int(ranked[full])
        slots += [(partial, p, v) for p, v in zip(top_k(qk[partial], rest).tolist(), top_k(vd[partial], rest).tolist())]
    table = torch.tensor(slots).reshape(n_kv, ds, 3)
    return table[..., 0], table[..., 1], table[..., 2]


def select_attention(
    parent: AttentionShape,
    student: AttentionShape,
    head_scores: torch.Tensor,
    qk_scores: torch.Tensor,
    v_scores: torch.Tensor,
    rotary: bool = False,
) -> AttentionPlan:
    """Plan one layer's attention (see the module docstring)."""
    dp, ds = parent.head_dim, student.head_dim
    group_p, group_s = parent.heads // parent.kv_heads, student.heads // student.kv_heads
    kv_scores = head_scores.reshape(parent.kv_heads, group_p).sum(1)
    kv_head, qk_dim, v_dim = _kv_slots(parent, student, kv_scores, qk_scores, v_scores, rotary)
    # For each parent kv head, the query heads of its group that the student's query heads use, in order.
    members = {
        h: top_k(head_scores[h * group_p : (h + 1) * group_p], min(group_s, group_p)) + h * group_p
        for h in kv_head.unique().tolist()
    }
    q_head = torch.stack(
        [
            torch.stack([members[h][i % group_s % len(members[h])] for h in kv_head[i // group_s].tolist()])
            for i in range(student.heads)
        ]
    )  # (A_s, d_s): the parent query head behind each student query slot
    q_dims = qk_dim.repeat_interleave(group_s, dim=0)
    o_dims = v_dim.repeat_interleave(group_s, dim=0)
    o = (q_head * dp + o_dims).reshape(-1)
    counts = torch.bincount(o, minlength=parent.heads * dp)[o]
    return AttentionPlan(
        q=(q_head * dp + q_dims).reshape(-1),
        k=(kv_head * dp + qk_dim).reshape(-1),
        v=(kv_head * dp + v_dim).reshape(-1),
        o=o,
        query_scale=math.sqrt(min(ds, dp) / max(ds, dp)),
        o_scale=(1.0 / counts.float()) if bool((counts > 1).any()) else None,
    )
