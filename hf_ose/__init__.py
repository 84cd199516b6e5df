"""hf-ose: optimal subarchitecture extraction (Bort's method) for Hugging Face transformers.

The search, its results and the family registry import at once; the parts that train (inheritance,
surrogates, distillation, fine-tuning) load on first use, so ``import hf_ose`` stays light.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

from .adapters import FamilyAdapter, FamilyLayout, get_adapter, register_family, supported_families
from .architecture import Architecture
from .budgets import Budget, BudgetError
from .exceptions import HfOseError
from .executors import InProcessExecutor, LocalProcessExecutor, WorkerError
from .export import ExportReport, export  # not lazy: importing hf_ose.export.* would shadow a lazy name
from .extractor import Objectives, OSEExtractor
from .front import ParetoFront, ParetoPoint
from .objectives.counting import ABnCReport, abnc_report
from .objectives.error import DataFreePrior, ErrorObjective
from .latency import LatencyNoiseError, LatencyRuntime, LatencySettings, ModelTooLargeError, register_runtime
from .parent import PRESETS, resolve_model_source
from .record import RecordFormatError, ReferencePoint, SearchRecord, SearchSettings
from .space import BORT_GRID, ArchitectureSpace, Grid

__version__ = "0.1.0"

#: Public names loaded on first use, by the module that defines them.
_LAZY: dict[str, str] = {
    "DistillationLoss": "distillation",
    "DistillationTrainer": "distillation",
    "DistillationSurrogate": "surrogates",
    "DistillationSurrogateSettings": "surrogates",
    "TaskSurrogate": "surrogates",
    "TaskSurrogateSettings": "surrogates",
    "extract_model": "inheritance",
    "save_student": "inheritance",
    "load_texts": "data",
    "load_labelled": "data",
    "fine_tune_classifier": "finetune",
    "AgoraTrainer": "agora",
    "AgoraArguments": "agora",
    "AgoraReport": "agora",
    "push_to_hub": "publish",
    "CardInputs": "publish",
    "write_card": "publish",
    "compress": "compression",
    "CompressSettings": "compression",
    "Task": "tasks",
    "load_task": "tasks",
}

if TYPE_CHECKING:
    from .agora import AgoraArguments, AgoraReport, AgoraTrainer
    from .compression import CompressSettings, compress
    from .data import load_labelled, load_texts
    from .distillation import DistillationLoss, DistillationTrainer
    from .finetune import fine_tune_classifier
    from .inheritance import extract_model, save_student
    from .publish import CardInputs, push_to_hub, write_card
    from .surrogates import DistillationSurrogate, DistillationSurrogateSettings, TaskSurrogate, TaskSurrogateSettings
    from .tasks import Task, load_task


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'hf_ose' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "ABnCReport", "Architecture", "ArchitectureSpace", "BORT_GRID", "Budget", "BudgetError", "DataFreePrior",
    "ErrorObjective", "ExportReport", "FamilyAdapter", "FamilyLayout", "Grid", "HfOseError", "InProcessExecutor",
    "LatencyNoiseError", "LatencyRuntime", "LatencySettings", "LocalProcessExecutor", "ModelTooLargeError",
    "OSEExtractor", "Objectives", "PRESETS", "ParetoFront", "ParetoPoint", "RecordFormatError", "ReferencePoint",
    "SearchRecord", "SearchSettings", "WorkerError", "abnc_report", "export", "get_adapter", "register_family",
    "register_runtime", "resolve_model_source", "supported_families", *_LAZY,
]
