"""Errors raised by weight inheritance."""

from ..errors import HfOseError


class InheritanceError(HfOseError, ValueError):
    """The variant cannot be filled from the parent's weights (the message names the problem and the fix)."""


class UnsupportedFamilyError(InheritanceError):
    """The parent's model family has no inheritance layout yet."""
