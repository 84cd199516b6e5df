"""The exceptions hf-ose raises for bad input; each message names the problem and the fix."""


class HfOseError(Exception):
    """Base class of hf-ose's own errors."""


class UnsupportedConfigError(HfOseError, ValueError):
    """No family adapter can read this config's architecture."""


class ParentNotFoundError(HfOseError, OSError):
    """The parent could not be loaded: not a preset, not a readable local folder, Hub unreachable."""


class EmptySpaceError(HfOseError, ValueError):
    """The grid produced no valid candidate."""


class CacheMismatchError(HfOseError, ValueError):
    """The cache folder holds the cache of a different search."""


class OutputNotWritableError(HfOseError, OSError):
    """The output folder cannot be created or written."""
