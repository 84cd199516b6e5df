"""``hf-ose bench``: the command-line face of :func:`hf_ose.export.bench.bench`."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``bench`` to the ``hf-ose`` subcommands."""
    command = subparsers.add_parser(
        "bench", help="Time PyTorch models and exported artifacts side by side.",
        description="Time every model and artifact given, on the same inputs, in alternating rounds after a warm-up; "
                    "print the median and spread of each and its speed-up against the first.",
    )
    command.add_argument("paths", nargs="+", metavar="DIR_OR_MODEL",
                         help="a PyTorch model folder, a folder written by hf-ose export (each artifact in it is "
                              "an entry), or one artifact file")
    command.add_argument("--threads", type=int, default=None, help="intra-op threads for every runtime "
                         "(default: PyTorch's)")
    command.add_argument("--batch-size", type=int, default=1, help="batch size (default 1)")
    command.add_argument("--seq-len", type=int, default=128, help="sequence length in tokens (default 128)")
    command.add_argument("--warmup", type=int, default=2, help="untimed runs per entry first (default 2)")
    command.add_argument("--rounds", type=int, default=5, help="alternating rounds (default 5)")
    command.add_argument("--repeats", type=int, default=5, help="timed runs per entry per round (default 5)")
    command.add_argument("--json", metavar="OUT", help="also write the table, settings and every run to OUT")
    return command


def run(args: argparse.Namespace) -> int:
    """Run ``hf-ose bench``; errors propagate to the command line's handler."""
    from ..export.bench import BenchError, bench

    if args.json and not Path(args.json).resolve().parent.is_dir():  # checked before minutes of timing
        raise BenchError(f"--json {args.json}: its folder does not exist; create it or choose another path.")
    if args.json and Path(args.json).is_dir():
        raise BenchError(f"--json {args.json} is a folder: name a file to write, e.g. "
                         f"{Path(args.json) / 'bench.json'}.")
    result = bench(args.paths, threads=args.threads, batch_size=args.batch_size, seq_len=args.seq_len,
                   warmup=args.warmup, rounds=args.rounds, repeats=args.repeats)
    print(result.table())
    if args.json:
        print(f"Wrote {result.to_json(args.json)}")
    return 0
