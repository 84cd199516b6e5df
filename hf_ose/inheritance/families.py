"""A parent's family layout (from the one family registry), the module-walking helpers inheritance needs, and
the errors inheritance raises.

Layouts are attached to family adapters (:class:`hf_ose.adapters.FamilyLayout`); register a family with
:func:`hf_ose.register_family` to make it inheritable.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import PretrainedConfig, PreTrainedModel

from ..adapters import FamilyLayout, get_adapter, supported_families
from ..exceptions import HfOseError

__all__ = [
    "InheritanceError", "UnsupportedFamilyError", "find_layers", "get_layout", "is_conv1d", "is_norm", "linear_weight",
]


class InheritanceError(HfOseError, ValueError):
    """The variant cannot be filled from the parent's weights (the message names the problem and the fix)."""


class UnsupportedFamilyError(InheritanceError):
    """The parent's model family has no inheritance layout yet."""


_FIX = (
    "This model class does not match its family's FamilyLayout: for a family registered with "
    "hf_ose.register_family, fix the layout's module paths (relative to one layer)."
)


def get_layout(config: PretrainedConfig) -> FamilyLayout:
    """The layout of the config's family; :class:`UnsupportedFamilyError` where it has none."""
    layout = get_adapter(config).layout
    if layout is None:
        inheritable = supported_families()["inheritance"]
        families = ", ".join(f"{name} ({'/'.join(types)})" for name, types in inheritable.items())
        raise UnsupportedFamilyError(
            f"Weight inheritance is not supported yet for model_type {config.model_type!r} ({type(config).__name__}). "
            f"Supported families: {families}. Use a parent from one of them, or describe the family's module paths "
            f"with hf_ose.register_family(FamilyAdapter(name=..., model_types=({config.model_type!r},), "
            "layout=FamilyLayout(...)), overwrite=True)."
        )
    return layout


def find_layers(model: PreTrainedModel, layout: FamilyLayout) -> str:
    """Full name of the model's ModuleList of transformer layers (e.g. ``bert.encoder.layer``), after checking
    that its first layer holds every module the layout names."""
    names = [
        name
        for name, module in model.named_modules()
        if isinstance(module, nn.ModuleList) and (name == layout.layers or name.endswith("." + layout.layers))
    ]
    if len(names) != 1:
        raise UnsupportedFamilyError(
            f"Expected one layer list named '*{layout.layers}' in {type(model).__name__}, found {names or 'none'}. "
            f"{_FIX}"
        )
    layer = model.get_submodule(names[0])[0]
    paths = (layout.fused_qkv, layout.query, layout.key, layout.value, layout.output, *layout.ffn_in, layout.ffn_out)
    missing = [path for path in paths if path is not None and not _has_submodule(layer, path)]
    if missing:
        raise UnsupportedFamilyError(f"The layers at {type(model).__name__}.{names[0]} lack modules {missing}. {_FIX}")
    return names[0]


def _has_submodule(module: nn.Module, path: str) -> bool:
    try:
        module.get_submodule(path)
    except AttributeError:
        return False
    return True


def is_conv1d(module: nn.Module) -> bool:
    """GPT-2's ``Conv1D`` stores its weight as (in, out), transposed against ``nn.Linear``."""
    return type(module).__name__ == "Conv1D"


def linear_weight(module: nn.Module) -> torch.Tensor:
    """The module's weight in ``nn.Linear`` orientation (out, in)."""
    return module.weight.t() if is_conv1d(module) else module.weight


def is_norm(module: nn.Module) -> bool:
    """LayerNorm or an RMSNorm-style module (one gain per feature)."""
    return isinstance(module, nn.LayerNorm) or type(module).__name__.endswith("RMSNorm")
