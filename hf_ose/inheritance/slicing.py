"""Fill a student's state dict from the parent's, following an :class:`InheritancePlan`.

Each student tensor comes from one parent tensor (the same name, with the layer index mapped). Each axis gets
a *role*: a head-structured or feed-forward axis of a layer's attention/FFN module (from the
:class:`FamilyLayout`), the residual axis ``"H"``, the embedding axis ``"E"`` (ELECTRA's factorised
embeddings), or none (kept whole). Outside the layout's modules roles come from shapes: an axis that goes
from the parent's hidden size to the student's is residual, one that keeps its size is kept whole. So
embeddings, every norm, pooler and output heads (classifier, MLM head with its tied decoder, LM head) follow
the one residual selection without a per-head table.
"""

from __future__ import annotations

import re

import torch
from torch import nn

from ..adapters import FamilyLayout
from .families import InheritanceError, is_conv1d
from .selection import InheritancePlan, ReadMap

__all__ = ["student_state_dict"]

Role = str | None


def _layer_roles(layout: FamilyLayout, module: str, conv1d: bool) -> dict[str, tuple[Role, ...]] | None:
    """Roles of a layer module's weight (in ``nn.Linear`` orientation) and bias, or None if not in the layout."""
    if module == layout.fused_qkv:
        out = "qkv"
    elif module in (layout.query, layout.key, layout.value):
        out = {layout.query: "q", layout.key: "k", layout.value: "v"}[module]
    elif module in layout.ffn_in:
        out = "f"
    elif module == layout.output:
        weight = ("H", "o")
        return {"weight": weight[::-1] if conv1d else weight, "bias": ("H",)}
    elif module == layout.ffn_out:
        weight = ("H", "f")
        return {"weight": weight[::-1] if conv1d else weight, "bias": ("H",)}
    else:
        return None
    weight = (out, "H")
    return {"weight": weight[::-1] if conv1d else weight, "bias": (out,)}


class _Slicer:
    """Builds student tensors one by one from the parent's state dict."""

    def __init__(
        self,
        parent: nn.Module,
        layout: FamilyLayout,
        layers_name: str,
        plan: InheritancePlan,
        sizes: dict[str, tuple[int, int]],
    ) -> None:
        self.parent_state = {name: tensor.detach().cpu() for name, tensor in parent.state_dict().items()}
        self.parent_modules = dict(parent.named_modules())
        self.layout, self.plan, self.sizes = layout, plan, sizes
        self.layer_pattern = re.compile(rf"^{re.escape(layers_name)}\.(\d+)\.(.+)$")
        self.layers_name = layers_name

    def indices(self, role: Role, layer: int | None) -> torch.Tensor | None:
        if role is None:
            return None
        if role == "H":
            return self.plan.hidden
        if role == "E":
            return self.plan.embedding
        assert layer is not None
        if role == "f":
            return self.plan.ffn[layer]
        attn = self.plan.attention[layer]
        if role == "qkv":
            width = self.sizes["qkv"][0] // 3
            return torch.cat([attn.q, attn.k + width, attn.v + 2 * width])
        return getattr(attn, role)

    def shape_roles(self, name: str, parent: torch.Tensor, student: torch.Size) -> tuple[Role, ...]:
        if parent.dim() != len(student):
            raise InheritanceError(
                f"{name}: parent tensor {tuple(parent.shape)} and student {tuple(student)} differ in rank."
            )
        roles: list[Role] = []
        for p, s in zip(parent.shape, student):
            if p == s:
                roles.append(None)
            elif (p, s) == self.sizes["H"]:
                roles.append("H")
            elif (p, s) == self.sizes.get("E"):
                roles.append("E")
            else:
                raise InheritanceError(
                    f"Cannot inherit {name}: parent shape {tuple(parent.shape)}, student {tuple(student)}; an "
                    "axis changed size that is neither the hidden nor the embedding size. This module is not "
                    "supported for weight inheritance yet."
                )
        return tuple(roles)

    def roles(self, name: str, value: torch.Tensor, student_shape: torch.Size, in_layer: bool) -> tuple[Role, ...]:
        """Roles of the parent tensor ``name``'s axes: from the layout inside a layer, else from shapes."""
        module_name, _, kind = name.rpartition(".")
        module = self.parent_modules.get(module_name)
        table = None
        match = self.layer_pattern.match(module_name) if in_layer else None
        if match and module is not None:
            table = _layer_roles(self.layout, match.group(2), is_conv1d(module))
        roles = table.get(kind) if table else None
        return roles if roles is not None else self.shape_roles(name, value, student_shape)

    def select(
        self, value: torch.Tensor, roles: tuple[Role, ...], layer: int | None, keep_hidden: bool
    ) -> torch.Tensor:
        for axis, role in enumerate(roles):
            index = None if keep_hidden and role == "H" else self.indices(role, layer)
            if index is not None:
                value = value.index_select(axis, index)
        return value

    def tensor(self, name: str, student: torch.Tensor) -> torch.Tensor:
        """The student's tensor ``name`` (shape of ``student``) built from the parent's."""
        layer, parent_name = None, name
        match = self.layer_pattern.match(name)
        if match:
            layer = int(match.group(1))
            parent_name = f"{self.layers_name}.{self.plan.layers[layer]}.{match.group(2)}"
        if parent_name not in self.parent_state:
            raise InheritanceError(f"The parent has no tensor {parent_name!r} for the student's {name!r}.")
        module_name, _, kind = parent_name.rpartition(".")
        value = self.parent_state[parent_name]
        roles = self.roles(parent_name, value, student.shape, layer is not None)
        read_map = self.plan.read_maps.get(module_name)
        value = self.select(value, roles, layer, keep_hidden=read_map is not None).clone()
        if read_map is not None:
            value = self.read(value, roles, read_map, parent_name, layer)
        if kind == "weight" and module_name in self.plan.norm_scales:
            value = value * self.plan.norm_scales[module_name]
        if layer is not None:
            self._rescale(value, roles, kind, layer)
        if value.shape != student.shape:
            raise InheritanceError(f"{name}: built shape {tuple(value.shape)}, student expects {tuple(student.shape)}.")
        return value.to(student.dtype)

    def read(
        self, value: torch.Tensor, roles: tuple[Role, ...], read_map: ReadMap, name: str, layer: int | None
    ) -> torch.Tensor:
        """Apply a residual read map: weight ``W M``, bias ``b + W c`` (W: outputs selected, inputs whole)."""
        module_name, _, kind = name.rpartition(".")
        if kind == "weight":
            axis = roles.index("H")
            return value.float().movedim(axis, -1).matmul(read_map.matrix).movedim(-1, axis)
        weight_name = f"{module_name}.weight"
        weight = self.parent_state[weight_name]
        w_roles = self.roles(weight_name, weight, weight.shape, layer is not None)
        weight = self.select(weight, w_roles, layer, keep_hidden=True).float()
        if w_roles.index("H") == 0:
            weight = weight.t()
        return value.float() + weight @ read_map.offset

    def _rescale(self, value: torch.Tensor, roles: tuple[Role, ...], kind: str, layer: int) -> None:
        attn = self.plan.attention[layer]
        if "q" in roles or "qkv" in roles:
            axis = roles.index("q") if "q" in roles else roles.index("qkv")
            value.narrow(axis, 0, attn.q.numel()).mul_(attn.query_scale)
        if "o" in roles and kind == "weight" and attn.o_scale is not None:
            axis = roles.index("o")
            shape = [1] * value.dim()
            shape[axis] = -1
            value.mul_(attn.o_scale.reshape(shape).to(value.dtype))


def student_state_dict(
    parent: nn.Module,
    student: nn.Module,
    layout: FamilyLayout,
    layers_name: str,
    plan: InheritancePlan,
    sizes: dict[str, tuple[int, int]],
) -> dict[str, torch.Tensor]:
    """The student's full state dict. ``sizes`` maps ``"H"`` (and ``"E"``, ``"qkv"``) to (parent, student) sizes."""
    slicer = _Slicer(parent, layout, layers_name, plan, sizes)
    with torch.no_grad():
        return {name: slicer.tensor(name, tensor) for name, tensor in student.state_dict().items()}
