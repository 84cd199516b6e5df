"""Error surrogates: cheap, measured error estimates that plug into ``Objectives(error=...)``."""

from .distillation import DistillationSurrogate
from .settings import DistillationSurrogateSettings, SurrogateError, TaskSurrogateSettings
from .task import TaskSurrogate

__all__ = [
    "DistillationSurrogate", "DistillationSurrogateSettings", "SurrogateError", "TaskSurrogate",
    "TaskSurrogateSettings",
]
