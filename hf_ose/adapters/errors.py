"""Errors raised when a family is registered or described."""

from ..errors import HfOseError


class FamilyRegistrationError(HfOseError, ValueError):
    """A family adapter or layout is malformed, or its model_type is registered already."""
