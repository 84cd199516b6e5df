"""CPU-optimised export: a model to a parity-checked ONNX Runtime or OpenVINO artifact in Optimum's layout.

The backends live in ``integrations/`` and are found by name through entry points (:mod:`.backend`), so the
core never imports them.
"""

from ..latency.timing import BenchError, BenchResult, BenchRow, BenchTarget, measure, measure_models
from .backend import (
    ENTRY_POINT_GROUP, ExportBackend, Session, export_backend_names, get_export_backend, register_export_backend,
)
from .bench import bench
from .core import REPORT_NAME, ExportReport, export, input_names, task_of
from .errors import BackendNotAvailableError, ExportError, ParityError
from .parity import DEFAULT_TEXTS, TOLERANCES, ParityResult, Tolerance, check_parity

__all__ = [
    "BackendNotAvailableError", "BenchError", "BenchResult", "BenchRow", "BenchTarget", "DEFAULT_TEXTS",
    "ENTRY_POINT_GROUP", "ExportBackend", "ExportError",
    "ExportReport", "ParityError", "ParityResult", "REPORT_NAME", "Session", "TOLERANCES", "Tolerance",
    "bench", "check_parity", "export", "export_backend_names", "get_export_backend", "input_names",
    "measure", "measure_models", "register_export_backend", "task_of",
]
