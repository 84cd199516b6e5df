"""Agora (design notes, "Agora"): fine-tune a small student near its parent's accuracy with dev-set-driven
augmentation and distillation from a teacher. Names load on first use, so ``import hf_ose.agora`` stays light."""

from typing import TYPE_CHECKING

from ..lazy import lazy_names
from .interfaces import AgoraError, Labeller, Point, Sampler, TokenizedPoint

#: Public names loaded on first use, by the module that defines them.
_LAZY: dict[str, str] = {
    "AgoraArguments": "arguments",
    "AgoraTrainer": "trainer",
    "task_distillation_loss": "trainer",
    "AgoraReport": "records",
    "AgoraRound": "records",
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
    "train_teacher": "finetuning",
    "FinetuneOptions": "finetuning",
    "SeedRun": "finetuning",
    "train_student": "finetuning",
    "build_student": "finetuning",
    "check_model": "finetuning",
    "load_teacher": "finetuning",
    "keep_best_seed": "finetuning",
    "seed_summary": "finetuning",
    "format_runs": "finetuning",
    "accuracy_metric": "finetuning",
    "merge_lora": "finetuning",
}

if TYPE_CHECKING:
    from .arguments import AgoraArguments
    from .finetuning import (FinetuneOptions, SeedRun, accuracy_metric, build_student, check_model, format_runs,
                             keep_best_seed, load_teacher, merge_lora, seed_summary, train_student, train_teacher)
    from .labellers import CallableLabeller, ModelLabeller, PipelineLabeller, as_labeller
    from .records import AgoraReport, AgoraRound
    from .samplers import (SAMPLER_REGISTRY, SAMPLERS, MaskedLMSampler, NearestNeighbourSampler, TokenEditSampler,
                           get_sampler, register_sampler)
    from .trainer import AgoraTrainer, task_distillation_loss


__getattr__, __dir__ = lazy_names(__name__, _LAZY, globals())

__all__ = ["AgoraError", "Labeller", "Point", "Sampler", "TokenizedPoint", *_LAZY]
