"""The registry of family adapters, keyed by ``model_type``, with a generic fallback."""

from __future__ import annotations

from transformers import PretrainedConfig

from .base import FOLLOWS_HIDDEN, FamilyAdapter

__all__ = ["FOLLOWS_HIDDEN", "FamilyAdapter", "GENERIC", "get_adapter", "register_adapter", "registered_model_types"]

#: Reads any config that uses the common names (directly or through its ``attribute_map``):
#: BERT, RoBERTa, XLM-RoBERTa, CamemBERT, ELECTRA, ALBERT, DeBERTa(-v2), MPNet, ERNIE, RoFormer,
#: Llama, Mistral, Qwen2, Gemma, Phi-3, ModernBERT, ...
GENERIC = FamilyAdapter(name="generic")

_REGISTRY: dict[str, FamilyAdapter] = {}


def register_adapter(adapter: FamilyAdapter, *, overwrite: bool = False) -> None:
    """Register ``adapter`` for each of its ``model_types``."""
    for model_type in adapter.model_types:
        if model_type in _REGISTRY and not overwrite:
            raise ValueError(f"An adapter for model_type {model_type!r} is registered already; pass overwrite=True.")
        _REGISTRY[model_type] = adapter


def registered_model_types() -> list[str]:
    return sorted(_REGISTRY)


def get_adapter(config: PretrainedConfig) -> FamilyAdapter:
    """The adapter for ``config.model_type``, else the generic one if it can read the config."""
    adapter = _REGISTRY.get(getattr(config, "model_type", ""), GENERIC)
    adapter.read(config)  # raises UnsupportedConfigError naming the fields it looked for
    return adapter


register_adapter(FamilyAdapter(name="distilbert", model_types=("distilbert",), intermediate="hidden_dim"))
register_adapter(
    FamilyAdapter(
        name="gpt2",
        model_types=("gpt2",),
        intermediate="n_inner",
        intermediate_default=lambda config: 4 * config.hidden_size,
    )
)
register_adapter(FamilyAdapter(name="opt", model_types=("opt",), intermediate="ffn_dim"))
