"""The errors export raises; each message names the problem and the fix."""

from ..errors import HfOseError


class ExportError(HfOseError, ValueError):
    """The model, its task, the calibration text or the output folder cannot be exported as asked."""


class BackendNotAvailableError(HfOseError, ValueError):
    """No export backend of that name is registered, or its packages are not installed."""


class ParityError(HfOseError, ValueError):
    """The artifact's outputs differ from the PyTorch model's by more than the precision's tolerance; it was
    not kept."""
