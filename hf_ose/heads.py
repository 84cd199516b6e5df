"""Deprecated: moved to :mod:`hf_ose.finetune`; goes in the next release."""

from . import finetune
from .lazy import moved

__getattr__ = moved(__name__, finetune)
