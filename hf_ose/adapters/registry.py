"""One registry of families, keyed by ``model_type``: what the search reads and what inheritance slices."""

from __future__ import annotations

from transformers import PretrainedConfig

from .base import FamilyAdapter
from .builtin import BUILTIN_ADAPTERS
from .errors import FamilyRegistrationError

__all__ = ["GENERIC", "get_adapter", "register_family", "supported_families"]

#: Reads any config that uses the common names (directly or through its ``attribute_map``):
#: ALBERT, DeBERTa(-v2), MPNet, ERNIE, RoFormer, Gemma, Phi-3, ModernBERT, ... (the search only).
GENERIC = FamilyAdapter(name="generic")

_REGISTRY: dict[str, FamilyAdapter] = {}


def register_family(adapter: FamilyAdapter, *, overwrite: bool = False) -> None:
    """Describe a family for both the search and weight inheritance, for each of ``adapter.model_types``.

    With ``adapter.layout`` set, :func:`hf_ose.inheritance.extract_model` accepts parents of the family;
    without it the family is searched only. ``overwrite=True`` replaces a registered family (built-in ones too).
    """
    if not adapter.model_types:
        raise FamilyRegistrationError(
            f"FamilyAdapter {adapter.name!r} names no model_types; pass model_types=('<config.model_type>',)."
        )
    taken = [t for t in adapter.model_types if t in _REGISTRY and not overwrite]
    if taken:
        raise FamilyRegistrationError(
            f"A family for model_type {', '.join(map(repr, taken))} is registered already "
            f"({_REGISTRY[taken[0]].name}); pass overwrite=True to replace it."
        )
    for model_type in adapter.model_types:
        _REGISTRY[model_type] = adapter


def get_adapter(config: PretrainedConfig) -> FamilyAdapter:
    """The adapter for ``config.model_type``, else the generic one if it can read the config."""
    adapter = _REGISTRY.get(getattr(config, "model_type", ""), GENERIC)
    adapter.read(config)  # raises UnsupportedConfigError naming the fields it looked for
    return adapter


def supported_families() -> dict[str, dict[str, list[str]]]:
    """Registered families (adapter name: model types, in registration order) by what they support:
    ``"inheritance"`` (the search and weight inheritance) and ``"search_only"``. Unregistered configs that
    use the common field names are searched through :data:`GENERIC` and are not inheritable."""
    kinds: dict[str, dict[str, list[str]]] = {"inheritance": {}, "search_only": {}}
    for model_type, adapter in _REGISTRY.items():
        kind = kinds["inheritance" if adapter.layout is not None else "search_only"]
        kind.setdefault(adapter.name, []).append(model_type)
    return kinds


for _adapter in BUILTIN_ADAPTERS:
    register_family(_adapter)
