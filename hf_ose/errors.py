"""Deprecated: moved to :mod:`hf_ose.exceptions` ('error' is an objective of the search); goes in the next release."""

from . import exceptions
from .lazy import moved

__getattr__ = moved(__name__, exceptions)
