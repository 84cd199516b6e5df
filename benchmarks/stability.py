"""Stability of README's main command: ``hf-ose extract roberta-large --space bort`` run several times.

Each run is a fresh process with a fresh output and cache folder, so nothing is reused: the latency sample is
measured again and the predictor refitted, and with the data-free prior that is all that can move the front.
It prints, per run, the W-best point, the point chosen under a budget (``--min-speedup``, applied to the saved
front with ``ParetoFront.choose``, as ``hf-ose extract --min-speedup`` does), the front's size, the parent's
measured latency and the latency predictor's held-out error; then how many distinct W-best and chosen points
the runs gave, how often they changed from one run to the next, and the Jaccard overlap of the fronts'
architecture sets between runs.

Run: python benchmarks/stability.py                 (5 runs; about 20 s each on 2 idle cores)
     python benchmarks/stability.py --runs 2 --min-speedup 20 --out runs/stability   (keeps every run's output)
Run it on an idle machine: latency measured under load moves the front for reasons of its own.
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch
import transformers

from hf_ose import ParetoFront
from hf_ose.budgets import BudgetError
from hf_ose.io import atomic_write
from hf_ose.latency import cpu_description

COMMAND = ("extract", "roberta-large", "--space", "bort")  # README's main command, after `hf-ose`


@dataclass(frozen=True)
class Run:
    """What one run of the command produced: a front, or the error it stopped with (``front`` None)."""

    seconds: float
    front: ParetoFront | None
    w_best: str = ""
    chosen: str = ""  # the architecture, or that no point meets the budget
    error: str = ""

    @property
    def architectures(self) -> frozenset[str]:
        return frozenset(str(point.architecture) for point in self.front or ())


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="repetitions of the command (default 5)")
    parser.add_argument("--min-speedup", type=float, default=10.0,
                        help="the budget a point is chosen under: at least X times faster than the parent (default 10)")
    parser.add_argument("--out", type=Path, default=None,
                        help="keep each run's output in OUT/run-K (a new or empty folder; default: a temporary "
                             "folder, removed at the end)")
    args = parser.parse_args(argv)
    if args.runs < 2:
        parser.error(f"--runs {args.runs}: stability needs at least 2 runs to compare")
    if args.min_speedup <= 0:
        parser.error(f"--min-speedup {args.min_speedup}: give a positive factor, e.g. 10")
    if args.out is not None and args.out.exists() and any(args.out.iterdir()):
        parser.error(f"--out {args.out} is not empty: every run needs fresh folders, so give a new or empty folder")
    return args


def run_once(folder: Path, min_speedup: float) -> Run:
    """``hf-ose extract roberta-large --space bort`` in a new process, writing to ``folder`` and caching in
    ``folder/cache``; its output is kept in ``folder/output.txt``."""
    command = [sys.executable, "-m", "hf_ose.commands", *COMMAND, "--out", str(folder), "--cache-dir",
               str(folder / "cache"), "--quiet"]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    seconds = time.perf_counter() - started
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write(folder / "output.txt", done.stdout + done.stderr)
    if done.returncode != 0:
        errors = [line for line in done.stderr.splitlines() if line.startswith("hf-ose: error:")]
        return Run(seconds, None, error=errors[-1] if errors else f"exit {done.returncode}: {done.stderr[-500:]}")
    front = ParetoFront.from_json(folder / "front.json")
    try:
        chosen = str(front.choose(min_speedup=min_speedup).architecture)
    except BudgetError:
        chosen = "(none meets it)"
    return Run(seconds, front, str(front.best("w").architecture), chosen)


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    """|a & b| / |a | b| (1 for two empty sets)."""
    return len(a & b) / len(a | b) if a | b else 1.0


def changes(values: Sequence[str]) -> int:
    """How many times a value differs from the one before it."""
    return sum(before != after for before, after in zip(values, values[1:]))


def print_runs(runs: Sequence[Run], min_speedup: float) -> None:
    chosen_header = f"chosen (>= {min_speedup:g}x)"
    print(f"\n{'run':>3}  {'W-best':<24}{chosen_header:<24}{'front':>6}{'parent ms':>11}"
          f"{'pred. err mean':>16}{'worst':>8}{'wall s':>8}")
    for k, run in enumerate(runs, 1):
        if run.front is None:
            print(f"{k:>3}  refused after {run.seconds:.1f} s: {run.error}")
            continue
        latency = run.front.record.latency
        print(f"{k:>3}  {run.w_best:<24}{run.chosen:<24}{len(run.front):>6}{run.front.reference.latency_ms:>11.1f}"
              f"{share(latency.get('held_out_mean_relative_error')):>16}"
              f"{share(latency.get('held_out_max_relative_error')):>8}{run.seconds:>8.1f}")


def share(value: float | None) -> str:
    """A relative error as a percentage; ``n/a`` where the run held no candidate out."""
    return "n/a" if value is None else f"{100 * value:.1f}%"


def print_summary(runs: Sequence[Run], min_speedup: float) -> None:
    """Distinct and changing W-best and chosen points, front overlap and parent latency over the runs that
    produced a front."""
    done = [run for run in runs if run.front is not None]
    print(f"{len(done)} of {len(runs)} runs produced a front" + (
        f"; {len(runs) - len(done)} refused (see the table): run on an idle machine" if len(done) < len(runs) else ""))
    if len(done) < 2:
        print("Fewer than two fronts: nothing to compare.")
        return
    for name, values in (("W-best", [r.w_best for r in done]),
                         (f"Chosen under --min-speedup {min_speedup:g}", [r.chosen for r in done])):
        tally = ", ".join(f"{arch} x{n}" for arch, n in Counter(values).most_common())
        print(f"{name}: {len(set(values))} distinct over {len(done)} runs, changed in {changes(values)} of "
              f"{len(done) - 1} consecutive pairs ({tally})")
    overlaps = [jaccard(a.architectures, b.architectures) for a, b in itertools.combinations(done, 2)]
    every = frozenset.intersection(*(r.architectures for r in done))
    union = frozenset.union(*(r.architectures for r in done))
    print(f"Front overlap (Jaccard of the architecture sets) over {len(overlaps)} pairs of runs: mean "
          f"{statistics.mean(overlaps):.3f}, min {min(overlaps):.3f}, max {max(overlaps):.3f}; "
          f"{len(every)} architectures on every front, {len(union)} on any")
    parent = [r.front.reference.latency_ms for r in done]
    spread = statistics.stdev(parent) / statistics.mean(parent)
    print(f"Parent latency: mean {statistics.mean(parent):.1f} ms, min {min(parent):.1f}, max {max(parent):.1f} "
          f"(coefficient of variation {spread:.1%})")


def main() -> None:
    args = parse_args()
    print(f"CPU: {cpu_description()}; Python {sys.version.split()[0]}, torch {torch.__version__} "
          f"({torch.get_num_threads()} threads), transformers {transformers.__version__}")
    print(f"Command: hf-ose {' '.join(COMMAND)}, {args.runs} runs, each in a new process with fresh output and "
          f"cache folders; budget --min-speedup {args.min_speedup:g} applied to each saved front")
    with tempfile.TemporaryDirectory(prefix="hf-ose-stability-") as scratch:
        root = args.out or Path(scratch)
        runs = []
        for k in range(1, args.runs + 1):
            runs.append(run_once(root / f"run-{k}", args.min_speedup))
            outcome = f"W-best {runs[-1].w_best}" if runs[-1].front is not None else runs[-1].error
            print(f"  run {k}: {runs[-1].seconds:.1f} s, {outcome}", file=sys.stderr, flush=True)
    print_runs(runs, args.min_speedup)
    print()
    print_summary(runs, args.min_speedup)


if __name__ == "__main__":
    main()
