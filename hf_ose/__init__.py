"""hf-ose: optimal subarchitecture extraction (Bort's method) for Hugging Face transformers."""

from .abnc import ABnCReport, abnc_report
from .adapters import FamilyAdapter, get_adapter, register_adapter
from .architecture import Architecture
from .extractor import Objectives, OSEExtractor
from .front import ParetoFront, ParetoPoint
from .objectives.error import DataFreePrior, ErrorObjective
from .objectives.latency import LatencySettings
from .parent import PRESETS
from .space import BORT_GRID, ArchitectureSpace, Grid

__all__ = [
    "ABnCReport", "Architecture", "ArchitectureSpace", "BORT_GRID", "DataFreePrior", "ErrorObjective",
    "FamilyAdapter", "Grid", "LatencySettings", "OSEExtractor", "Objectives", "PRESETS", "ParetoFront",
    "ParetoPoint", "abnc_report", "get_adapter", "register_adapter",
]
__version__ = "0.1.0"
