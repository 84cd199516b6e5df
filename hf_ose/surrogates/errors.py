"""Errors raised by the error surrogates."""

from ..errors import HfOseError


class SurrogateError(HfOseError, ValueError):
    """A surrogate cannot be built with these settings, labels or data sizes (the message names the fix)."""
