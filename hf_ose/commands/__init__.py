"""The ``hf-ose`` command line: one module per subcommand, each declaring its options (``add_parser``) and running
the library (``run``). Parsing imports no heavy library code; a subcommand loads what it needs when it runs."""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
import warnings
from typing import Sequence

from .. import __version__
from ..exceptions import HfOseError
from ..third_party_logs import third_party_noise_silenced
from . import bench, card, compress, export, extract, finetune, inherit, push
from .options import add_shared_options, interrupted

#: The subcommands, in the order ``hf-ose --help`` lists them.
_COMMANDS = {"extract": extract, "inherit": inherit, "export": export, "bench": bench, "finetune": finetune,
             "card": card, "push": push, "compress": compress}


def build_parser() -> argparse.ArgumentParser:
    """The ``hf-ose`` parser with every subcommand."""
    parser = argparse.ArgumentParser(prog="hf-ose", description="Optimal subarchitecture extraction for transformers.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for command in _COMMANDS.values():
        add_shared_options(command.add_parser(subparsers))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``hf-ose`` with ``argv`` (default: the process's arguments); the exit status: 2 on a reported error,
    130 when interrupted (Ctrl-C). A user's mistake is one line on stderr; a bug keeps its traceback. Third-party
    log noise is dropped unless ``--verbose``, which also shows hf-ose's info lines."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.verbose:
        logging.getLogger("hf_ose").setLevel(logging.INFO)
    warnings.simplefilter("default", UserWarning)
    try:
        with contextlib.nullcontext() if args.verbose else third_party_noise_silenced():
            return _COMMANDS[args.command].run(args)
    except (HfOseError, ValueError) as error:
        print(f"hf-ose: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"hf-ose: interrupted: {interrupted(args)}", file=sys.stderr)
        return 130
