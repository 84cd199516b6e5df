"""The public entry point: :func:`extract_model`."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal, Protocol

from transformers import AutoConfig, PretrainedConfig, PreTrainedModel

from ..adapters import AttentionShape, FamilyLayout, get_adapter
from ..parent import load_parent_model
from ..torch_context import seeded
from .calibration import as_batches
from .compensation import fit_width_cut
from .families import InheritanceError, find_layers, get_layout
from .importance import Scores, activation_scores, magnitude_scores
from .selection import InheritancePlan, select_attention, select_layers, top_k
from .slicing import student_state_dict

__all__ = ["extract_model", "plan_inheritance"]

CalibrationData = Mapping[str, Any] | Iterable[Mapping[str, Any]] | None


class HasConfig(Protocol):
    """Anything carrying a variant's config, such as a :class:`~hf_ose.ParetoPoint`."""

    config: PretrainedConfig


def _parent_model(parent: PreTrainedModel | str | Path) -> PreTrainedModel:
    """The parent model itself, or loaded (with its head class) from a model folder or Hub id."""
    if isinstance(parent, PreTrainedModel):
        return parent
    if isinstance(parent, (str, Path)):
        return load_parent_model(parent)
    if isinstance(parent, PretrainedConfig):
        raise InheritanceError(
            f"extract_model needs the parent model with its weights, but got {type(parent).__name__}, a config "
            "without weights. Load the model first, e.g. AutoModel.from_pretrained(folder_or_hub_id), or pass "
            "that model folder or Hub id as the parent."
        )
    raise InheritanceError(
        f"The parent must be a PreTrainedModel, a model folder or a Hub id, not a {type(parent).__name__}; "
        "load it with AutoModel.from_pretrained(folder_or_hub_id)."
    )


def _variant_config(variant: PretrainedConfig | HasConfig | str | Path) -> PretrainedConfig:
    """The variant's config: itself, a ParetoPoint's (read by duck typing, so that inheritance never imports
    the front), or read from a config folder."""
    if isinstance(variant, PretrainedConfig):
        return variant
    if isinstance(variant, PreTrainedModel):
        raise InheritanceError(
            f"The variant is a model ({type(variant).__name__}) where a config is expected; pass its config "
            "(model.config), a ParetoPoint or a config folder."
        )
    if isinstance(variant, (str, Path)):
        if not (Path(variant) / "config.json").is_file():
            raise InheritanceError(
                f"{str(variant)!r} is not a folder holding config.json; pass a folder written by "
                "ParetoFront.save_pretrained or PretrainedConfig.save_pretrained, a ParetoPoint or a config."
            )
        return AutoConfig.from_pretrained(variant)
    config = getattr(variant, "config", None)
    if isinstance(config, PretrainedConfig):
        return config
    raise InheritanceError(
        f"The variant must be a PretrainedConfig, a ParetoPoint or a config folder, not a {type(variant).__name__}."
    )


#: Task-head settings a student keeps from its parent, whichever config its variant was written from.
HEAD_FIELDS = ("id2label", "label2id", "problem_type")


def _with_parent_head(parent: PretrainedConfig, variant: PretrainedConfig) -> PretrainedConfig:
    """``variant`` with the parent's labels and problem type (a copy where they differ): a variant written from
    a base model's config must not silently relabel, or resize, a classifier's head."""
    if all(getattr(variant, name, None) == getattr(parent, name, None) for name in HEAD_FIELDS):
        return variant
    variant = copy.deepcopy(variant)
    for name in HEAD_FIELDS:
        setattr(variant, name, copy.deepcopy(getattr(parent, name, None)))
    return variant


def _check_variant(parent: PretrainedConfig, variant: PretrainedConfig) -> None:
    if parent.model_type != variant.model_type:
        raise InheritanceError(
            f"The variant is a {variant.model_type!r} config but the parent is a {parent.model_type!r} model: "
            "weights can only be inherited within one family. Build the variant from the parent's config "
            "(e.g. get_adapter(parent.config).write(parent.config, arch))."
        )
    adapter = get_adapter(parent)
    p, v = adapter.read(parent), adapter.read(variant)
    ps, vs = adapter.attention_shape(parent), adapter.attention_shape(variant)
    limits = {
        "depth": (v.depth, p.depth),
        "hidden size": (v.hidden, p.hidden),
        "intermediate size": (v.intermediate, p.intermediate),
        "query width (heads x head_dim)": (vs.heads * vs.head_dim, ps.heads * ps.head_dim),
        "key/value width (kv_heads x head_dim)": (vs.kv_heads * vs.head_dim, ps.kv_heads * ps.head_dim),
    }
    embedding = getattr(variant, "embedding_size", None), getattr(parent, "embedding_size", None)
    if isinstance(embedding[0], int) and isinstance(embedding[1], int):
        limits["embedding size"] = embedding
    too_large = [f"{name} {mine} > {theirs}" for name, (mine, theirs) in limits.items() if mine > theirs]
    if too_large:
        raise InheritanceError(
            f"The variant ({v}) is larger than the parent ({p}): {', '.join(too_large)}. Inheritance can only "
            "remove structure; choose a variant within the parent's size (a search space derived from the parent)."
        )
    if vs.heads % vs.kv_heads or v.depth < 1 or min(v.hidden, v.intermediate, vs.head_dim) < 1:
        raise InheritanceError(
            f"Invalid variant {v}: depth, widths and head size must be positive and the query heads a multiple "
            "of the key/value heads. Fix the variant config."
        )


def plan_inheritance(
    parent: PreTrainedModel | str | Path,
    variant_config: PretrainedConfig | HasConfig | str | Path,
    calibration_data: CalibrationData = None,
    *,
    layer_selection: Literal["uniform", "importance"] = "uniform",
) -> InheritancePlan:
    """Which parent layers, heads, dimensions and neurons fill the variant (see :func:`extract_model`)."""
    parent, variant_config = _parent_model(parent), _variant_config(variant_config)
    layout = get_layout(parent.config)
    _check_variant(parent.config, variant_config)
    if layer_selection not in ("uniform", "importance"):
        raise InheritanceError(f"layer_selection must be 'uniform' or 'importance', not {layer_selection!r}.")
    if layer_selection == "importance" and calibration_data is None:
        raise InheritanceError("layer_selection='importance' needs calibration_data (a tokenized batch of text).")
    layers_name = find_layers(parent, layout)
    layers = parent.get_submodule(layers_name)
    adapter = get_adapter(parent.config)
    p_arch, v_arch = adapter.read(parent.config), adapter.read(variant_config)
    p_shape, v_shape = adapter.attention_shape(parent.config), adapter.attention_shape(variant_config)
    batches = as_batches(calibration_data) if calibration_data is not None else None
    if batches is None:
        scores = magnitude_scores(parent, layout, layers, p_shape, p_arch.hidden)
    else:
        scores = activation_scores(parent, layout, layers, p_shape, p_arch.hidden, batches)
    chosen = select_layers(p_arch.depth, v_arch.depth, scores.layers if layer_selection == "importance" else None)
    plan = _plan(parent.config, variant_config, layout, scores, chosen, p_shape, v_shape)
    if batches is not None and v_arch.hidden < p_arch.hidden:
        plan.read_maps, plan.norm_scales = fit_width_cut(parent, layout, layers, layers_name, plan, batches)
    return plan


def _plan(
    parent: PretrainedConfig,
    variant: PretrainedConfig,
    layout: FamilyLayout,
    scores: Scores,
    chosen: list[int],
    p_shape: AttentionShape,
    v_shape: AttentionShape,
) -> InheritancePlan:
    v_arch = get_adapter(variant).read(variant)
    attention = []
    for new, old in enumerate(chosen):
        plan = select_attention(
            p_shape, v_shape, scores.heads[old], scores.qk_dims[old], scores.v_dims[old], layout.rotary
        )
        if getattr(parent, "scale_attn_by_inverse_layer_idx", False):  # GPT-2 divides logits by layer index + 1
            plan = dataclasses.replace(plan, query_scale=plan.query_scale * (new + 1) / (old + 1))
        attention.append(plan)
    embedding = None
    if scores.embedding is not None:
        embedding = top_k(scores.embedding, getattr(variant, "embedding_size", scores.embedding.numel()))
    return InheritancePlan(
        layers=chosen,
        hidden=top_k(scores.hidden, v_arch.hidden),
        embedding=embedding,
        attention=attention,
        ffn=[top_k(scores.ffn[old], v_arch.intermediate) for old in chosen],
    )


def extract_model(
    parent_model: PreTrainedModel | str | Path,
    variant_config: PretrainedConfig | HasConfig | str | Path,
    calibration_data: CalibrationData = None,
    *,
    layer_selection: Literal["uniform", "importance"] = "uniform",
) -> PreTrainedModel:
    """A model of the parent's class, built from ``variant_config`` and filled from the parent's weights.

    ``parent_model``: the model, or its folder (or Hub id), loaded in the head class its config names.
    ``variant_config``: a config of the parent's family, a :class:`~hf_ose.ParetoPoint`, or a folder
    holding its ``config.json`` (as :meth:`ParetoFront.save_pretrained` writes them).

    * Layers: evenly spaced with the first and the last kept, the last alone for one layer
      (``layer_selection="uniform"``), or the layers of highest block influence on ``calibration_data``
      (``"importance"``). Depth-only reduction is exactly the parent with the other layers dropped.
    * Heads, head dimensions, feed-forward neurons and one residual (hidden) selection shared by embeddings,
      every projection, norm and output head, most important first (:mod:`hf_ose.inheritance.importance`):
      without data by weight norms (hidden dimensions by the norms' ``gain^2 + bias^2``), with
      ``calibration_data`` (a tokenized dict/BatchEncoding, or a list of them) by activation energy.
      Heads wider than the parent's combine parent heads; narrower ones keep each head's most important
      dimensions (:mod:`hf_ose.inheritance.selection`).
    * With calibration data and a narrower residual stream, norm gains are rescaled for the kept
      dimensions' statistics and residual reads inside the layers are corrected by least squares for the
      dropped dimensions (:mod:`hf_ose.inheritance.compensation`, which records the measured effect).

    Deterministic. The parent's own config reproduces the parent exactly. Raises :class:`InheritanceError`
    for a variant of another family, larger than the parent or malformed, :class:`UnsupportedFamilyError`
    for families without a layout (register one with :func:`hf_ose.register_family`).
    """
    parent_model, variant_config = _parent_model(parent_model), _variant_config(variant_config)
    plan = plan_inheritance(parent_model, variant_config, calibration_data, layer_selection=layer_selection)
    layout = get_layout(parent_model.config)
    variant_config = _with_parent_head(parent_model.config, variant_config)
    with seeded(0):  # only for construction: every tensor is overwritten below
        student = type(parent_model)(variant_config)
    adapter = get_adapter(parent_model.config)
    p_arch, v_arch = adapter.read(parent_model.config), adapter.read(variant_config)
    sizes = {"H": (p_arch.hidden, v_arch.hidden)}
    p_embed = getattr(parent_model.config, "embedding_size", None)
    v_embed = getattr(variant_config, "embedding_size", None)
    if isinstance(p_embed, int) and isinstance(v_embed, int) and p_embed != p_arch.hidden:
        sizes["E"] = (p_embed, v_embed)
    if layout.fused_qkv:
        p_shape, v_shape = adapter.attention_shape(parent_model.config), adapter.attention_shape(variant_config)
        sizes["qkv"] = (3 * p_shape.heads * p_shape.head_dim, 3 * v_shape.heads * v_shape.head_dim)
    state = student_state_dict(parent_model, student, layout, find_layers(parent_model, layout), plan, sizes)
    student.load_state_dict(state, strict=True)
    return student.to(device=parent_model.device, dtype=parent_model.dtype).train(parent_model.training)
