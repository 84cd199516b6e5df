"""CPU-optimised export: a model to a parity-checked ONNX Runtime or OpenVINO artifact in Optimum's layout.

The backends live in ``integrations/`` and are found by name through entry points (:mod:`.backend`), so the
core never imports them.
"""

import warnings
from typing import Any

from ..latency.timing import BenchError, BenchResult, BenchRow, BenchTarget, measure, measure_models
from .backend import (
    ENTRY_POINT_GROUP, BackendNotAvailableError, ExportBackend, ExportError, ParityError, Session, export_backend_names,
    get_export_backend, register_export_backend,
)
from .bench import bench
from .core import REPORT_NAME, ExportReport, export, head_of, input_names
from .parity import DEFAULT_TEXTS, TOLERANCES, ParityResult, Tolerance, check_parity
from .texts import CALIBRATION_SIZE, PARITY_SIZE, TextSamples, draw_samples

__all__ = [
    "BackendNotAvailableError", "BenchError", "BenchResult", "BenchRow", "BenchTarget", "CALIBRATION_SIZE",
    "DEFAULT_TEXTS", "PARITY_SIZE", "TextSamples", "draw_samples",
    "ENTRY_POINT_GROUP", "ExportBackend", "ExportError",
    "ExportReport", "ParityError", "ParityResult", "REPORT_NAME", "Session", "TOLERANCES", "Tolerance",
    "bench", "check_parity", "export", "export_backend_names", "get_export_backend", "head_of", "input_names",
    "measure", "measure_models", "register_export_backend",
]


def __getattr__(name: str) -> Any:
    if name == "task_of":  # renamed: a task is a labelled data set (hf_ose.tasks.Task), not a model's head
        warnings.warn("hf_ose.export.task_of is now hf_ose.export.head_of; the old name goes in the next release.",
                      DeprecationWarning, stacklevel=2)
        return head_of
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
