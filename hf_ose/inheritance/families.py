"""Where each supported family keeps its layers and, inside a layer, its attention and feed-forward weights.

A :class:`FamilyLayout` names the modules *inside one layer* whose weights have head-structured or
feed-forward axes. Everything else (embeddings, norms, biases of residual writes, pooler, task heads) is
handled by shape: an axis that changes from the parent's hidden size to the student's is a residual axis.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from transformers import PretrainedConfig, PreTrainedModel

from ..adapters import get_adapter
from .errors import UnsupportedFamilyError

__all__ = [
    "AttentionShape",
    "FamilyLayout",
    "LAYOUTS",
    "attention_shape",
    "find_layers",
    "get_layout",
    "is_conv1d",
    "is_norm",
    "linear_weight",
]


@dataclass(frozen=True)
class FamilyLayout:
    """Module paths relative to one layer. ``fused_qkv`` replaces query/key/value (GPT-2's ``c_attn``);
    ``post_norm``: the layer ends with a norm (BERT), rather than normalising its sublayers' inputs (GPT-2)."""

    name: str
    model_types: tuple[str, ...]
    layers: str
    query: str | None
    key: str | None
    value: str | None
    output: str
    ffn_in: tuple[str, ...]
    ffn_out: str
    post_norm: bool = False
    fused_qkv: str | None = None
    rotary: bool = False

    def attention_input(self) -> str:
        """The module whose input is the attention block's (normalised) residual read."""
        return self.fused_qkv or self.query  # type: ignore[return-value]


_BERT_LIKE = dict(
    layers="encoder.layer",
    query="attention.self.query",
    key="attention.self.key",
    value="attention.self.value",
    output="attention.output.dense",
    ffn_in=("intermediate.dense",),
    ffn_out="output.dense",
    post_norm=True,
)

LAYOUTS: tuple[FamilyLayout, ...] = (
    FamilyLayout(name="BERT", model_types=("bert",), **_BERT_LIKE),
    FamilyLayout(name="RoBERTa", model_types=("roberta", "xlm-roberta", "camembert"), **_BERT_LIKE),
    FamilyLayout(name="ELECTRA", model_types=("electra",), **_BERT_LIKE),
    FamilyLayout(
        name="DistilBERT",
        model_types=("distilbert",),
        layers="transformer.layer",
        query="attention.q_lin",
        key="attention.k_lin",
        value="attention.v_lin",
        output="attention.out_lin",
        ffn_in=("ffn.lin1",),
        ffn_out="ffn.lin2",
        post_norm=True,
    ),
    FamilyLayout(
        name="GPT-2",
        model_types=("gpt2",),
        layers="h",
        query=None,
        key=None,
        value=None,
        fused_qkv="attn.c_attn",
        output="attn.c_proj",
        ffn_in=("mlp.c_fc",),
        ffn_out="mlp.c_proj",
    ),
    FamilyLayout(
        name="Llama",
        model_types=("llama", "mistral", "qwen2"),
        layers="layers",
        query="self_attn.q_proj",
        key="self_attn.k_proj",
        value="self_attn.v_proj",
        output="self_attn.o_proj",
        ffn_in=("mlp.gate_proj", "mlp.up_proj"),
        ffn_out="mlp.down_proj",
        rotary=True,
    ),
)


def get_layout(config: PretrainedConfig) -> FamilyLayout:
    model_type = getattr(config, "model_type", None)
    for layout in LAYOUTS:
        if model_type in layout.model_types:
            return layout
    families = ", ".join(f"{lay.name} ({'/'.join(lay.model_types)})" for lay in LAYOUTS)
    raise UnsupportedFamilyError(
        f"Weight inheritance is not supported yet for model_type {model_type!r} ({type(config).__name__}). "
        f"Supported families: {families}. Use a parent from one of them, or add a FamilyLayout to "
        "hf_ose.inheritance.families.LAYOUTS."
    )


@dataclass(frozen=True)
class AttentionShape:
    """Query heads, key/value heads and head size of one config (kv_heads == heads without GQA)."""

    heads: int
    kv_heads: int
    head_dim: int


def attention_shape(config: PretrainedConfig) -> AttentionShape:
    arch = get_adapter(config).read(config)
    head_dim = getattr(config, "head_dim", None)
    if not isinstance(head_dim, int):
        head_dim = arch.head_dim or arch.hidden // arch.heads
    return AttentionShape(arch.heads, arch.kv_heads or arch.heads, head_dim)


def find_layers(model: PreTrainedModel, layout: FamilyLayout) -> str:
    """Full name of the model's ModuleList of transformer layers (e.g. ``bert.encoder.layer``)."""
    names = [
        name
        for name, module in model.named_modules()
        if isinstance(module, nn.ModuleList) and (name == layout.layers or name.endswith("." + layout.layers))
    ]
    if len(names) != 1:
        raise UnsupportedFamilyError(
            f"Expected one layer list named '*{layout.layers}' in {type(model).__name__}, found {names or 'none'}; "
            "this model class is not supported for weight inheritance yet."
        )
    return names[0]


def is_conv1d(module: nn.Module) -> bool:
    """GPT-2's ``Conv1D`` stores its weight as (in, out), transposed against ``nn.Linear``."""
    return type(module).__name__ == "Conv1D"


def linear_weight(module: nn.Module) -> torch.Tensor:
    """The module's weight in ``nn.Linear`` orientation (out, in)."""
    return module.weight.t() if is_conv1d(module) else module.weight


def is_norm(module: nn.Module) -> bool:
    """LayerNorm or an RMSNorm-style module (one gain per feature)."""
    return isinstance(module, nn.LayerNorm) or type(module).__name__.endswith("RMSNorm")
