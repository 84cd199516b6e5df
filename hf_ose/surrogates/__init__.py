"""Error surrogates: cheap, measured error estimates that plug into ``Objectives(error=...)``."""

from .distillation import DistillationSurrogate
from .errors import SurrogateError
from .settings import DistillationSurrogateSettings, TaskSurrogateSettings
from .task import TaskSurrogate

__all__ = [
    "DistillationSurrogate", "DistillationSurrogateSettings", "SurrogateError", "TaskSurrogate",
    "TaskSurrogateSettings",
]
