"""Agora (design notes, "Agora"): fine-tune a small student near its parent's accuracy with dev-set-driven
augmentation and distillation from a teacher. Names load on first use, so ``import hf_ose.agora`` stays light."""

from importlib import import_module
from typing import TYPE_CHECKING, Any

from .interfaces import AgoraError, Labeller, Point, Sampler

#: Public names loaded on first use, by the module that defines them.
_LAZY: dict[str, str] = {
    "AgoraArguments": "arguments",
    "AgoraTrainer": "trainer",
    "AgoraReport": "report",
    "AgoraRound": "report",
    "task_distillation_loss": "loss",
    "merge_lora": "lora",
    "SAMPLERS": "samplers",
    "SAMPLER_REGISTRY": "samplers",
    "TokenEditSampler": "samplers",
    "MaskedLMSampler": "samplers",
    "NearestNeighbourSampler": "samplers",
    "get_sampler": "samplers",
    "register_sampler": "samplers",
    "as_labeller": "labellers",
    "ModelLabeller": "labellers",
    "PipelineLabeller": "labellers",
    "CallableLabeller": "labellers",
    "train_teacher": "teacher",
}

if TYPE_CHECKING:
    from .arguments import AgoraArguments
    from .labellers import CallableLabeller, ModelLabeller, PipelineLabeller, as_labeller
    from .lora import merge_lora
    from .loss import task_distillation_loss
    from .report import AgoraReport, AgoraRound
    from .samplers import (SAMPLER_REGISTRY, SAMPLERS, MaskedLMSampler, NearestNeighbourSampler, TokenEditSampler,
                           get_sampler, register_sampler)
    from .teacher import train_teacher
    from .trainer import AgoraTrainer


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'hf_ose.agora' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = ["AgoraError", "Labeller", "Point", "Sampler", *_LAZY]
