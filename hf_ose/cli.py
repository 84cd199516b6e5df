"""Deprecated: the command line lives in :mod:`hf_ose.commands`; this alias goes in the next release."""

import sys
import warnings

from .commands import build_parser, main
from .front import format_front

warnings.warn("hf_ose.cli is deprecated: use hf_ose.commands (main, build_parser) and hf_ose.front.format_front.",
              DeprecationWarning, stacklevel=2)

__all__ = ["build_parser", "format_front", "main"]

if __name__ == "__main__":
    sys.exit(main())
