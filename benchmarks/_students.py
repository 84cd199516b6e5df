"""Shared setup of ``inheritance.py`` and ``task_variants.py`` (a helper module, not a benchmark): their
options, the SST-2 parts, the grid of students of all-MiniLM-L6-v2, its similar-size pairs and pair statistics."""

from __future__ import annotations

import argparse
import itertools
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from scipy.stats import spearmanr
from transformers import PretrainedConfig

from hf_ose import Architecture, get_adapter
from hf_ose.data import load_labelled
from hf_ose.objectives.counting import measure_static_cost

DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "sst2"
DEFAULT_GRID = (
    "4-12-384-1536 2-12-384-1536 6-12-384-768 3-12-384-768 2-12-384-768 "
    "6-12-288-1536 6-12-288-768 4-12-288-1152 4-12-288-768 3-12-288-768 "
    "6-12-192-1536 6-12-192-768 4-12-192-768 3-12-192-1536 2-12-192-768"
).split()
QUICK_GRID = "2-12-384-768 6-12-288-768 3-12-288-768 6-12-192-768 4-12-192-768".split()
SIMILAR_SIZE = 1.5  # similar size: non-embedding parameters within this factor
TASK_STEPS = 100  # s of the task surrogate

Labelled = list[tuple[str, int]]


@dataclass(frozen=True)
class Student:
    """One variant of the parent with its exact non-embedding parameter count and FLOPs (batch 1, seq 128)."""

    arch: Architecture
    config: PretrainedConfig
    params: int
    flops: int

    @property
    def label(self) -> str:
        a = self.arch
        return f"{a.depth}-{a.heads}-{a.hidden}-{a.intermediate}"


@dataclass(frozen=True)
class Data:
    """SST-2 splits: a labelled training subset (calibration, and fine-tuning unless each seed has its own),
    unlabelled training text disjoint from it (the held-out distillation batch first, then distillation
    batches), labelled training rows disjoint from both (the task surrogate's, so no budget sees a row twice),
    dev, test, and optionally one fresh fine-tuning subset per seed, disjoint from all the rest."""

    train: Labelled
    unlabelled: list[str]
    task: Labelled
    dev: Labelled
    test: Labelled
    per_seed: tuple[Labelled, ...] = ()

    def fine_tuning_rows(self, seed_index: int) -> Labelled:
        """The rows the ``seed_index``-th fine-tuning seed trains on."""
        return self.per_seed[seed_index] if self.per_seed else self.train


# ---- options ----------------------------------------------------------------------------------------------
def parse_arch(text: str) -> Architecture:
    """``"D-A-H-I"`` -> Architecture."""
    try:
        depth, heads, hidden, intermediate = (int(v) for v in text.split("-"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected D-A-H-I (e.g. 6-12-192-768), got {text!r}") from None
    return Architecture(depth, heads, hidden, intermediate)


def parse_args(argv: Sequence[str] | None = None, description: str | None = None) -> argparse.Namespace:
    """The options both benchmarks share (grid, surrogate budgets, data, fine-tuning)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--students", nargs="+", type=parse_arch, help=f"D-A-H-I each (default: {len(DEFAULT_GRID)})")
    parser.add_argument("--steps", type=int, default=25, help="s: distillation surrogate steps (and 10 s)")
    parser.add_argument("--task-steps", type=int, default=TASK_STEPS, help="s: task surrogate steps (and 10 s)")
    parser.add_argument("--task-repeats", type=int, default=2, help="task surrogate runs averaged per value")
    parser.add_argument("--train-rows", type=int, default=2000, help="labelled SST-2 training subset")
    parser.add_argument("--fine-tune-rows", type=int, default=None,
                        help="give each fine-tuning seed its own N fresh training rows (default: every seed "
                             "fine-tunes on the --train-rows subset); the surrogates' rows do not move")
    parser.add_argument("--epochs", type=int, default=1, help="fine-tuning epochs")
    parser.add_argument("--seeds", type=int, default=3, help="fine-tuning seeds per student")
    parser.add_argument("--lr", type=float, default=1e-4, help="fine-tuning learning rate")
    parser.add_argument("--test-rows", type=int, default=None, help="test rows scored (default: all 872)")
    parser.add_argument("--calibration", type=int, default=128, help="calibration sentences for inheritance")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--held-out", type=int, default=64, help="held-out distillation batch")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", type=Path, default=DATA_DIR, help="folder with {train,validation,test}.tsv")
    parser.add_argument("--quick", action="store_true", help="smoke run: 5 students, tiny steps and data")
    args = parser.parse_args(argv)
    if args.fine_tune_rows is not None and args.fine_tune_rows < 1:
        parser.error(f"--fine-tune-rows {args.fine_tune_rows}: give a positive row count, or leave it out to "
                     "fine-tune every seed on the --train-rows subset")
    if args.quick:
        args.students = args.students or [parse_arch(s) for s in QUICK_GRID]
        args.steps, args.task_steps, args.train_rows, args.seeds = 1, 2, 64, 2
        args.test_rows, args.calibration = 128, 32
    args.students = args.students or [parse_arch(s) for s in DEFAULT_GRID]
    return args


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


# ---- data -------------------------------------------------------------------------------------------------
def load_data(folder: Path, train_rows: int, unlabelled_rows: int, task_rows: int, test_rows: int | None,
              seed: int, per_seed_rows: Sequence[int] = ()) -> Data:
    """Seeded disjoint parts of the training split (the per-seed subsets last, so they never move the others),
    the validation split as dev, and the test split."""
    texts, labels = load_labelled(folder / "train.tsv")
    order = np.random.default_rng(seed).permutation(len(texts))
    sizes = [train_rows, unlabelled_rows, task_rows, *per_seed_rows]
    if sum(sizes) > len(texts):
        raise SystemExit(f"{folder / 'train.tsv'} has {len(texts)} rows; these settings need {sum(sizes)}: "
                         "lower --steps, --task-steps, --train-rows, --fine-tune-rows or --seeds.")
    parts = np.split(order, np.cumsum(sizes))
    labelled = [[(texts[k], labels[k]) for k in part] for part in parts[:-1]]
    dev = list(zip(*load_labelled(folder / "validation.tsv")))
    test = list(zip(*load_labelled(folder / "test.tsv")))[:test_rows]
    return Data(labelled[0], [text for text, _ in labelled[1]], labelled[2], dev, test, tuple(labelled[3:]))


def benchmark_data(args: argparse.Namespace) -> Data:
    """The splits for these settings: the distillation surrogate's rows cover its 10 s steps after the held-out
    batch, the task surrogate's its 10 s steps for every run."""
    unlabelled_rows = args.held_out + 10 * args.steps * args.batch_size
    task_rows = args.task_repeats * 10 * args.task_steps * args.batch_size
    per_seed_rows = [args.fine_tune_rows] * args.seeds if args.fine_tune_rows is not None else []
    return load_data(args.data, args.train_rows, unlabelled_rows, task_rows, args.test_rows, args.seed, per_seed_rows)


# ---- the grid and its pairs -------------------------------------------------------------------------------
def build_students(parent: PretrainedConfig, archs: Sequence[Architecture]) -> list[Student]:
    adapter = get_adapter(parent)
    students = []
    for arch in archs:
        config = adapter.write(parent, arch)
        cost = measure_static_cost(config, 1, 128)
        students.append(Student(arch, config, cost.effective_params, cost.flops))
    return students


def similar_size_pairs(students: Sequence[Student]) -> list[tuple[int, int]]:
    """Pairs within ``SIMILAR_SIZE`` in non-embedding parameters where one is deeper and the other wider
    (larger hidden or intermediate size): depth traded against width at about equal size."""

    def trades(deep: Architecture, wide: Architecture) -> bool:
        return deep.depth > wide.depth and (wide.hidden > deep.hidden or wide.intermediate > deep.intermediate)

    return [
        (a, b)
        for a, b in itertools.combinations(range(len(students)), 2)
        if max(students[a].params, students[b].params) <= SIMILAR_SIZE * min(students[a].params, students[b].params)
        and (trades(students[a].arch, students[b].arch) or trades(students[b].arch, students[a].arch))
    ]


def pair_agreement(x: Sequence[float], y: Sequence[float], pairs: Sequence[tuple[int, int]]) -> tuple[int, int]:
    """(pairs that x and y order the same way, pairs); a tie in either counts as disagreement."""
    same = sum(np.sign(x[a] - x[b]) * np.sign(y[a] - y[b]) > 0 for a, b in pairs)
    return int(same), len(pairs)


def percent(part: int, whole: int) -> str:
    return f"{part / whole:.0%}" if whole else "n/a"


def rank_correlation(x: Sequence[float], y: Sequence[float]) -> float:
    return float(spearmanr(x, y, nan_policy="omit").statistic)


# ---- output -----------------------------------------------------------------------------------------------
def log(message: str) -> None:
    """Progress, to stderr (the tables go to stdout)."""
    print(message, file=sys.stderr, flush=True)


def timed(times: dict[str, float], name: str, run: Callable[[], object]) -> object:
    started = time.perf_counter()
    result = run()
    times[name] = time.perf_counter() - started
    print(f"[{name}: {times[name]:.0f} s]")
    return result
