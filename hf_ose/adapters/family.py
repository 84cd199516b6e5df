"""Family adapters (map a config class's field names onto an :class:`Architecture` and back) and the registry
of families keyed by ``model_type``: what the search reads and what inheritance slices."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from transformers import PretrainedConfig

from ..architecture import Architecture
from ..exceptions import HfOseError, UnsupportedConfigError
from ..plugins import Registry

if TYPE_CHECKING:
    from .builtin import FamilyLayout

__all__ = [
    "AttentionShape", "FAMILIES", "FOLLOWS_HIDDEN", "FamilyAdapter", "FamilyRegistrationError", "GENERIC",
    "get_adapter", "register_family", "supported_families",
]


class FamilyRegistrationError(HfOseError, ValueError):
    """A family adapter or layout is malformed, or its model_type is registered already."""


#: Fields that, where the parent sets them equal to its hidden size, must follow the hidden size in a
#: variant (ELECTRA/ALBERT/RoFormer ``embedding_size``, DeBERTa ``pooler_hidden_size``, OPT
#: ``word_embed_proj_dim``). Where the parent sets them to another value they are kept as they are.
FOLLOWS_HIDDEN: tuple[str, ...] = ("embedding_size", "pooler_hidden_size", "word_embed_proj_dim")


@dataclass(frozen=True)
class AttentionShape:
    """Query heads, key/value heads and head size of one config (kv_heads == heads without GQA)."""

    heads: int
    kv_heads: int
    head_dim: int


@dataclass(frozen=True)
class FamilyAdapter:
    """How one family of configs names its architectural parameters, and where its models keep their weights.

    Field names go through the config's ``attribute_map``, so ``hidden_size`` also reads GPT-2's ``n_embd``.
    ``intermediate_default`` gives the feed-forward size when the config leaves it unset (GPT-2's
    ``n_inner=None`` means ``4 * n_embd``). ``layout`` (module paths, see :class:`FamilyLayout`) makes the
    family inheritable by :func:`hf_ose.inheritance.extract_model`; ``None``: the search only.
    """

    name: str
    model_types: tuple[str, ...] = ()
    depth: str = "num_hidden_layers"
    heads: str = "num_attention_heads"
    hidden: str = "hidden_size"
    intermediate: str = "intermediate_size"
    kv_heads: str = "num_key_value_heads"
    head_dim: str = "head_dim"
    intermediate_default: Callable[[PretrainedConfig], int] | None = None
    layout: FamilyLayout | None = None

    # ---- reading -------------------------------------------------------------------------------------
    def read(self, config: PretrainedConfig) -> Architecture:
        """The config's architecture; :class:`UnsupportedConfigError` names the fields it looked for."""
        depth, heads, hidden = (self._get(config, f) for f in (self.depth, self.heads, self.hidden))
        intermediate = self._get(config, self.intermediate)
        if intermediate is None and self.intermediate_default is not None and hidden is not None:
            intermediate = self.intermediate_default(config)
        missing = [
            field
            for field, value in zip(
                (self.depth, self.heads, self.hidden, self.intermediate), (depth, heads, hidden, intermediate)
            )
            if not isinstance(value, int)
        ]
        if missing:
            raise UnsupportedConfigError(
                f"Cannot read the architecture of a {type(config).__name__} (model_type "
                f"{getattr(config, 'model_type', None)!r}): looked for integer fields {missing} "
                f"(all fields looked for: {self.fields_looked_for()}). Register a FamilyAdapter for this "
                "model_type with hf_ose.register_family(FamilyAdapter(...))."
            )
        kv_heads = self._get(config, self.kv_heads)
        head_dim = self._get(config, self.head_dim)
        decoupled_head_dim = head_dim if head_dim is not None and head_dim * heads != hidden else None
        return Architecture(depth, heads, hidden, intermediate, kv_heads, decoupled_head_dim)

    def fields_looked_for(self) -> list[str]:
        return [self.depth, self.heads, self.hidden, self.intermediate, self.kv_heads, self.head_dim]

    def attention_shape(self, config: PretrainedConfig) -> AttentionShape:
        """The config's query heads, key/value heads and head size (``hidden // heads`` unless set)."""
        arch = self.read(config)
        return AttentionShape(arch.heads, arch.kv_heads or arch.heads, arch.head_dim or arch.hidden // arch.heads)

    # ---- writing -------------------------------------------------------------------------------------
    def write(self, parent: PretrainedConfig, arch: Architecture) -> PretrainedConfig:
        """A config of the parent's class that differs from it only in architectural fields."""
        base = self.read(parent)
        if (arch.kv_heads is None) != (base.kv_heads is None):
            raise ValueError(f"{arch} and the parent ({base}) disagree on grouped-query attention (kv_heads).")
        if (arch.head_dim is None) != (base.head_dim is None):
            raise ValueError(f"{arch} and the parent ({base}) disagree on a free head size (head_dim).")
        values = parent.to_dict()
        changes = {
            self.depth: arch.depth,
            self.heads: arch.heads,
            self.hidden: arch.hidden,
            self.intermediate: arch.intermediate,
        }
        if arch.kv_heads is not None:
            changes[self.kv_heads] = arch.kv_heads
        if self._get(parent, self.head_dim) is not None:
            changes[self.head_dim] = arch.head_dim if arch.head_dim is not None else arch.hidden // arch.heads
        for field in FOLLOWS_HIDDEN:
            if self._get(parent, field) == base.hidden:
                changes[field] = arch.hidden
        for field, value in changes.items():
            values[self._stored_name(parent, field)] = value
        per_layer = self.per_layer_fields(parent)
        for field in per_layer:
            values.pop(field)
        variant = type(parent).from_dict(values)
        for field in per_layer:
            self._fit_per_layer_list(variant, parent, field, arch.depth)
        if self.read(variant) != arch:
            raise AssertionError(f"Writing {arch} into a {type(parent).__name__} read back {self.read(variant)}.")
        return variant

    def architectural_fields(self, parent: PretrainedConfig) -> set[str]:
        """Every stored field a variant of ``parent`` may change."""
        names = {self.depth, self.heads, self.hidden, self.intermediate, self.kv_heads, self.head_dim}
        names.update(FOLLOWS_HIDDEN)
        stored = {self._stored_name(parent, n) for n in names}
        return stored | set(self.per_layer_fields(parent))

    def per_layer_fields(self, config: PretrainedConfig) -> list[str]:
        """Stored list fields with one entry per layer (e.g. ``layer_types``), which follow the depth."""
        depth = self._get(config, self.depth)
        return [k for k, v in config.to_dict().items() if isinstance(v, list) and len(v) == depth and k != "architectures"]

    # ---- helpers -------------------------------------------------------------------------------------
    @staticmethod
    def _stored_name(config: PretrainedConfig, field: str) -> str:
        return getattr(config, "attribute_map", {}).get(field, field)

    @staticmethod
    def _get(config: PretrainedConfig, field: str) -> int | None:
        value = getattr(config, field, None)
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    @staticmethod
    def _fit_per_layer_list(variant: PretrainedConfig, parent: PretrainedConfig, field: str, depth: int) -> None:
        """Keep a per-layer list the class regenerated; otherwise repeat the parent's pattern to ``depth``."""
        regenerated = getattr(variant, field, None)
        if isinstance(regenerated, list) and len(regenerated) == depth:
            return
        pattern = getattr(parent, field)
        setattr(variant, field, [pattern[i % len(pattern)] for i in range(depth)])


#: Reads any config that uses the common names (directly or through its ``attribute_map``):
#: ALBERT, DeBERTa(-v2), MPNet, ERNIE, RoFormer, Gemma, Phi-3, ModernBERT, ... (the search only).
GENERIC = FamilyAdapter(name="generic")

#: Family adapters by ``model_type`` (one adapter under each of its model types); the built-in ones are
#: registered when :mod:`hf_ose.adapters` is imported.
FAMILIES: Registry[FamilyAdapter] = Registry(
    kind="family", error=FamilyRegistrationError, register_call="hf_ose.register_family(FamilyAdapter(...))",
)


def register_family(adapter: FamilyAdapter, *, overwrite: bool = False) -> None:
    """Describe a family for both the search and weight inheritance, for each of ``adapter.model_types``.

    With ``adapter.layout`` set, :func:`hf_ose.inheritance.extract_model` accepts parents of the family;
    without it the family is searched only. ``overwrite=True`` replaces a registered family (built-in ones too).
    """
    if not adapter.model_types:
        raise FamilyRegistrationError(
            f"FamilyAdapter {adapter.name!r} names no model_types; pass model_types=('<config.model_type>',)."
        )
    taken = [t for t in adapter.model_types if t in FAMILIES.plugins and not overwrite]
    if taken:  # refuse before registering any, so a refused adapter leaves no model type behind
        raise FamilyRegistrationError(
            f"A family for model_type {', '.join(map(repr, taken))} is registered already "
            f"({FAMILIES.plugins[taken[0]].name}); pass overwrite=True to replace it."
        )
    for model_type in adapter.model_types:
        FAMILIES.register(adapter, model_type, overwrite=True)


def get_adapter(config: PretrainedConfig) -> FamilyAdapter:
    """The adapter for ``config.model_type``, else the generic one if it can read the config.
    :class:`UnsupportedConfigError` for a config no adapter reads, or one of a model that reads no tokens."""
    model_type = getattr(config, "model_type", "")
    if not isinstance(getattr(config, "vocab_size", None), int):
        raise UnsupportedConfigError(
            f"A {type(config).__name__} (model_type {model_type!r}) has no token vocabulary (vocab_size): it is not "
            "a text model, and hf-ose searches text transformers, whose input is token ids. Pass a text model's "
            "folder, Hub id or preset (e.g. bert-base-uncased)."
        )
    adapter = FAMILIES.get(model_type) if model_type in FAMILIES else GENERIC
    adapter.read(config)  # raises UnsupportedConfigError naming the fields it looked for
    return adapter


def supported_families() -> dict[str, dict[str, list[str]]]:
    """Registered families (adapter name: model types, in registration order) by what they support:
    ``"inheritance"`` (the search and weight inheritance) and ``"search_only"``. Unregistered configs that
    use the common field names are searched through :data:`GENERIC` and are not inheritable."""
    kinds: dict[str, dict[str, list[str]]] = {"inheritance": {}, "search_only": {}}
    for model_type, adapter in FAMILIES.view().items():
        kind = kinds["inheritance" if adapter.layout is not None else "search_only"]
        kind.setdefault(adapter.name, []).append(model_type)
    return kinds
