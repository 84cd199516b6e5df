"""Error surrogates: cheap, measured error estimates that plug into ``Objectives(error=...)``."""

from .data import SurrogateDataError, load_labelled, load_texts
from .distillation import DistillationSurrogate
from .task import TaskSurrogate

__all__ = ["DistillationSurrogate", "SurrogateDataError", "TaskSurrogate", "load_labelled", "load_texts"]
