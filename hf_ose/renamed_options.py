"""Command-line options that were renamed: the old spelling is still accepted for one release, sets the new
option's value and prints one line naming the new option (``hf-ose: warning: ...`` on stderr)."""

from __future__ import annotations

import argparse
import sys
from typing import Any, Sequence

#: The release after which renamed spellings stop being accepted.
REMOVED_IN = "0.2.0"


def warn_renamed(old: str, new: str) -> None:
    """Print the one-line warning that ``old`` is deprecated in favour of ``new``."""
    print(f"hf-ose: warning: {old} is deprecated: use {new} (the old spelling goes in hf-ose {REMOVED_IN}).",
          file=sys.stderr)


class RenamedOption(argparse.Action):
    """The old spelling of an option (``new`` names what replaces it): stores its value (a flag: its ``const``)
    under the new option's ``dest`` after :func:`warn_renamed`; hidden from ``--help``."""

    def __init__(self, option_strings: Sequence[str], dest: str, *, new: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, help=argparse.SUPPRESS, **kwargs)
        self.new = new

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        warn_renamed(option_string or self.option_strings[0], self.new)
        setattr(namespace, self.dest, self.const if self.nargs == 0 else values)
