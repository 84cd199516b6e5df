"""hf-ose: optimal subarchitecture extraction (Bort's method) for Hugging Face transformers."""

from .adapters import FamilyAdapter, get_adapter, register_adapter
from .architecture import Architecture

__all__ = ["Architecture", "FamilyAdapter", "get_adapter", "register_adapter"]
__version__ = "0.1.0"
