"""``hf-ose finetune``: a student fine-tuned on a task, plainly, with distillation from a teacher, with Agora, or
both, over one or more seeds; the best seed by development score is kept (:mod:`hf_ose.agora.finetuning`)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ..agora.interfaces import POOL_SPACES, AgoraError
from ..io import ensure_writable_folder
from .options import add_renamed


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``finetune`` to the ``hf-ose`` subcommands."""
    command = subparsers.add_parser(
        "finetune", help="Fine-tune a student on a task: plainly, with distillation, with Agora, or both.",
        description="Fine-tune MODEL on TASK (sst2, rte, stsb, wnut17, a datasets id, or a task folder: "
                    "classification, regression or token classification) and write the model, its tokenizer and "
                    "agora_report.json (with the test score by the task's metric) to --out.",
    )
    command.add_argument("model", help="a local model folder: a bare encoder (a new head is added) or a model "
                                       "with the task's head")
    command.add_argument("--task", required=True,
                         help="sst2, rte, stsb, wnut17, a datasets id NAME[:CONFIG], or a task folder")
    command.add_argument("--teacher", help="a folder of a model with the task's head: the labeller and distillation "
                                           "source (default with --agora/--distill: MODEL fine-tuned into "
                                           "OUT/teacher)")
    command.add_argument("--agora", action="store_true", help="run Agora's loop (settings, dev mistakes, new points)")
    command.add_argument("--distill", action="store_true", help="distil from the teacher's logits")
    command.add_argument("--lora", action="store_true", help="train LoRA adapters (merged before the final save)")
    command.add_argument("--seed", type=int, default=0, help="seed of the run (default 0)")
    command.add_argument("--seeds", type=int, default=1,
                         help="runs with seeds SEED..SEED+N-1; the best development score is kept (default 1)")
    command.add_argument("--out", required=True, help="a new or empty output folder")
    command.add_argument("--epochs", type=float, default=3.0, help="epochs per fine-tuning (default 3)")
    command.add_argument("--batch-size", type=int, default=16, help="training batch size (default 16)")
    command.add_argument("--learning-rate", type=float, default=5e-5, help="learning rate (default 5e-5)")
    add_renamed(command, "--lr", "--learning-rate", dest="learning_rate", type=float)
    command.add_argument("--max-length", type=int, default=128, help="tokens per example (default 128)")
    command.add_argument("--settings", help="Agora's settings: a JSON list of TrainingArguments dicts, or a file "
                                               "(default: --learning-rate halved, as given and doubled)")
    command.add_argument("--samples-per-mistake", type=int, default=4, help="new points per dev mistake (default 4)")
    command.add_argument("--sampler", help="token-edits, masked-lm or nearest-neighbours (default: "
                                           "nearest-neighbours with --unlabelled, else token-edits)")
    command.add_argument("--unlabelled", metavar="FILE",
                         help="unlabelled in-domain text (.txt one a line, or .jsonl/.csv/.tsv with the task's text "
                              "columns, or words in 'tokens' for NER): Agora samples its points from it, near the "
                              "dev mistakes")
    command.add_argument("--pool-space", choices=POOL_SPACES, default="teacher",
                         help="embed --unlabelled with the teacher's encoder (once), what the teacher's output layer "
                              "reads (teacher-head), or each round's student (default teacher)")
    command.add_argument("--max-points-per-round", type=int, help="cap on Agora's new points per round")
    command.add_argument("--pool-labelled", type=int, default=0,
                         help="--unlabelled texts the teacher labels up front as extra training rows (soft targets "
                              "with --distill; -1: all; default 0)")
    command.add_argument("--max-rounds", type=int, help="at most this many Agora rounds (default: until one setting)")
    add_renamed(command, "--rounds", "--max-rounds", dest="max_rounds", type=int)
    command.add_argument("--min-confidence", type=float, default=0.0,
                         help="teacher confidence a generated point needs to be kept (default 0)")
    command.add_argument("--selection-share", type=float, default=0.0,
                         help="share of the dev split held out from Agora's sampler to choose the setting and the "
                              "round (default 0: the whole dev split does both)")
    command.add_argument("--train-rows", type=int, help="fine-tune on a random N-row subset of the train split")
    return command


def run(args: argparse.Namespace) -> int:
    """Run ``hf-ose finetune``; errors propagate to the command line's handler."""
    from ..agora.finetuning import (MODEL_CLASSES, FinetuneOptions, check_model, format_runs, keep_best_seed,
                                    load_teacher, train_student)
    from ..agora.records import REPORT_FILE as REPORT
    from ..tasks import load_task

    options = FinetuneOptions(
        agora=args.agora, distill=args.distill, lora=args.lora, epochs=args.epochs, batch_size=args.batch_size,
        learning_rate=args.learning_rate, max_length=args.max_length, settings=_settings(args.settings),
        samples_per_mistake=args.samples_per_mistake, sampler=args.sampler, rounds=args.max_rounds,
        min_confidence=args.min_confidence, unlabelled=args.unlabelled, pool_space=args.pool_space,
        max_points_per_round=args.max_points_per_round, pool_labelled=args.pool_labelled,
        selection_share=args.selection_share,
    )
    if args.seeds < 1:
        raise AgoraError(f"--seeds {args.seeds}: give at least 1.")
    for option, value in (("--settings", args.settings), ("--max-rounds", args.max_rounds),
                          ("--selection-share", args.selection_share or None)):
        if value is not None and not options.agora:
            raise AgoraError(f"{option} sets Agora's loop: add --agora, or drop {option}.")
    if args.unlabelled and not (options.agora or (options.distill and args.pool_labelled)):
        raise AgoraError("--unlabelled feeds Agora's sampler (--agora) or the teacher-labelled pool rows "
                         "(--distill --pool-labelled N): add one of them, or drop --unlabelled.")
    if args.pool_labelled and not args.unlabelled:
        raise AgoraError("--pool-labelled draws from --unlabelled FILE: give the file.")
    if args.unlabelled:
        from ..agora.samplers import read_unlabelled

        read_unlabelled(args.unlabelled)  # an unreadable pool is refused before the teacher's fine-tuning
    if args.teacher and not options.needs_teacher:
        raise AgoraError("--teacher is the labeller of --agora and the source of --distill: add one of them, or "
                         "drop --teacher for a plain fine-tuning.")
    out = _new_folder(Path(args.out))
    task, left_out = load_task(args.task).without_validation_rows_in_test()
    if left_out:
        print(f"Left {left_out} test row(s) out that repeat validation rows: Agora reads the validation split, so "
              "they would not score honestly.")
    if args.train_rows is not None:
        task = task.subsample(train=args.train_rows)
    print(f"Task {task.describe()}")
    check_model(args.model, task)
    teacher = None
    if options.needs_teacher and args.teacher:
        teacher = load_teacher(args.teacher, task)
    elif options.needs_teacher:
        from ..agora.labellers import train_teacher

        folder = out / "teacher"
        print(f"No --teacher: fine-tuning {args.model} on {task.name} into {folder} first.")
        teacher = train_teacher(args.model, task, folder,
                                args=options.arguments(folder, args.seed, task.metric_name, distill=False,
                                                       agora=False))
    runs = []
    for seed in range(args.seed, args.seed + args.seeds):
        print(f"Seed {seed} ({seed - args.seed + 1}/{args.seeds})")
        runs.append(train_student(args.model, task, out / f"seed-{seed}" if args.seeds > 1 else out, options, seed,
                                  teacher))
    best = keep_best_seed(runs, out)
    print(format_runs(runs, best, task, options))
    print(f"Wrote the seed-{best.seed} model, its tokenizer and {REPORT} to {out} "
          f"(loads with {MODEL_CLASSES[task.kind].__name__}.from_pretrained).")
    return 0


def _settings(text: str | None) -> tuple[dict[str, Any], ...] | None:
    """``--settings``: a JSON list of dicts, inline or in a file."""
    if text is None:
        return None
    source = Path(text).read_text() if Path(text).is_file() else text
    try:
        settings = json.loads(source)
    except json.JSONDecodeError as error:
        raise AgoraError(f"--settings {text[:80]!r} is neither a JSON file nor JSON ({error.msg}): write e.g. "
                         "'[{\"learning_rate\": 5e-5}, {\"learning_rate\": 1e-4}]'.") from error
    if not isinstance(settings, list) or not settings or not all(isinstance(s, dict) for s in settings):
        raise AgoraError(f"--settings must be a non-empty JSON list of dicts of TrainingArguments fields, not "
                         f"{source[:80]!r}.")
    return tuple(settings)


def _new_folder(out: Path) -> Path:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise AgoraError(f"--out {out} exists and is not an empty folder: choose a new or empty folder.")
    return ensure_writable_folder(out)
