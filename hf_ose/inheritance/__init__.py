"""Weight inheritance: fill a smaller variant of a parent from the parent's weights."""

from .errors import InheritanceError, UnsupportedFamilyError
from .extract import extract_model, plan_inheritance
from .saving import SavedStudent, save_student

__all__ = [
    "InheritanceError", "SavedStudent", "UnsupportedFamilyError", "extract_model", "plan_inheritance", "save_student",
]
