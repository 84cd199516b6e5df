"""hf-ose: optimal subarchitecture extraction (Bort's method) for Hugging Face transformers.

Every public name loads on first use from the module that defines it (:func:`hf_ose.lazy.lazy_names`), so
``import hf_ose`` (and ``hf-ose --help``) imports neither torch nor transformers.
"""

from typing import TYPE_CHECKING

from .lazy import keep_over_submodules, lazy_names

__version__ = "0.1.0"

#: Public names, by the submodule that defines them; each loads on first use.
_LAZY: dict[str, str] = {
    **dict.fromkeys(("FamilyAdapter", "FamilyLayout", "get_adapter", "register_family", "supported_families"),
                    "adapters"),
    "Architecture": "architecture",
    "Budget": "budgets", "BudgetError": "budgets",
    "HfOseError": "exceptions",
    "InProcessExecutor": "executors", "LocalProcessExecutor": "executors", "WorkerError": "executors",
    "ExportReport": "export", "export": "export",
    "Objectives": "extractor", "OSEExtractor": "extractor",
    "ParetoFront": "front", "ParetoPoint": "front",
    "ABnCReport": "objectives.counting", "abnc_report": "objectives.counting",
    "DataFreePrior": "objectives.error", "ErrorObjective": "objectives.error",
    **dict.fromkeys(("LatencyNoiseError", "LatencyRuntime", "LatencySettings", "ModelTooLargeError",
                     "register_runtime"), "latency"),
    "PRESETS": "parent", "resolve_model_source": "parent",
    **dict.fromkeys(("RecordFormatError", "ReferencePoint", "SearchRecord", "SearchSettings"), "record"),
    "BORT_GRID": "space", "ArchitectureSpace": "space", "Grid": "space",
    "DistillationLoss": "distillation", "DistillationTrainer": "distillation",
    **dict.fromkeys(("DistillationSurrogate", "DistillationSurrogateSettings", "TaskSurrogate",
                     "TaskSurrogateSettings"), "surrogates"),
    "extract_model": "inheritance", "save_student": "inheritance",
    "load_texts": "data", "load_labelled": "data",
    "fine_tune_classifier": "finetune",
    "AgoraTrainer": "agora", "AgoraArguments": "agora", "AgoraReport": "agora",
    **dict.fromkeys(("push_to_hub", "CardInputs", "write_card", "write_folder_card"), "publish"),
    "compress": "compression", "CompressSettings": "compression",
    "Task": "tasks", "load_task": "tasks",
}

__getattr__, __dir__ = lazy_names(__name__, _LAZY, globals())
keep_over_submodules(__name__, ["export"])  # hf_ose.export is the function, though a subpackage has its name

if TYPE_CHECKING:
    from .adapters import FamilyAdapter, FamilyLayout, get_adapter, register_family, supported_families
    from .agora import AgoraArguments, AgoraReport, AgoraTrainer
    from .architecture import Architecture
    from .budgets import Budget, BudgetError
    from .compression import CompressSettings, compress
    from .data import load_labelled, load_texts
    from .distillation import DistillationLoss, DistillationTrainer
    from .exceptions import HfOseError
    from .executors import InProcessExecutor, LocalProcessExecutor, WorkerError
    from .export import ExportReport, export
    from .extractor import Objectives, OSEExtractor
    from .finetune import fine_tune_classifier
    from .front import ParetoFront, ParetoPoint
    from .inheritance import extract_model, save_student
    from .latency import LatencyNoiseError, LatencyRuntime, LatencySettings, ModelTooLargeError, register_runtime
    from .objectives.counting import ABnCReport, abnc_report
    from .objectives.error import DataFreePrior, ErrorObjective
    from .parent import PRESETS, resolve_model_source
    from .publish import CardInputs, push_to_hub, write_card, write_folder_card
    from .record import RecordFormatError, ReferencePoint, SearchRecord, SearchSettings
    from .space import BORT_GRID, ArchitectureSpace, Grid
    from .surrogates import DistillationSurrogate, DistillationSurrogateSettings, TaskSurrogate, TaskSurrogateSettings
    from .tasks import Task, load_task

__all__ = sorted(_LAZY)
