"""Weight inheritance: fill a smaller variant of a parent from the parent's weights."""

from .errors import InheritanceError, UnsupportedFamilyError
from .extract import extract_model, plan_inheritance

__all__ = ["InheritanceError", "UnsupportedFamilyError", "extract_model", "plan_inheritance"]
