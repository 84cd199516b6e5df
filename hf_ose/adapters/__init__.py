"""Family adapters: how each model family names its architecture and lays out its weights, in one registry."""

from .base import FOLLOWS_HIDDEN, AttentionShape, FamilyAdapter
from .errors import FamilyRegistrationError
from .layout import FamilyLayout
from .registry import GENERIC, get_adapter, register_family, supported_families

__all__ = [
    "AttentionShape", "FOLLOWS_HIDDEN", "FamilyAdapter", "FamilyLayout", "FamilyRegistrationError", "GENERIC",
    "get_adapter", "register_family", "supported_families",
]
