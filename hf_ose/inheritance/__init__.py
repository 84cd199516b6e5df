"""Weight inheritance: fill a smaller variant of a parent from the parent's weights."""

from .extract import extract_model, plan_inheritance
from .families import InheritanceError, UnsupportedFamilyError
from .saving import SavedStudent, save_student

__all__ = [
    "InheritanceError", "SavedStudent", "UnsupportedFamilyError", "extract_model", "plan_inheritance", "save_student",
]
