"""``hf-ose extract``: search a parent's architecture space and write the Pareto front."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from ..renamed_options import warn_renamed
from .options import (RUNTIMES, add_budget_options, add_renamed, add_text_options, budget_from, data_source,
                      runtime_name)

if TYPE_CHECKING:
    from transformers import PreTrainedModel

    from ..objectives.error import ErrorObjective


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``extract`` to the ``hf-ose`` subcommands."""
    extract = subparsers.add_parser(
        "extract", help="Pareto-optimal variants of a parent over (parameters, latency, error).",
        description="Search a parent's architecture space and write the Pareto front.",
    )
    extract.add_argument("parent", help="a local model folder, a Hub id, or a preset name such as roberta-large")
    extract.add_argument("--space", default="auto", help="'auto' (derived from the parent), 'bort', or a JSON grid file")
    extract.add_argument("--epsilon", type=float, default=0.1, help="approximation factor in (0, 1] (default 0.1)")
    extract.add_argument("--seq-len", type=int, default=128, help="sequence length for FLOPs and latency (default 128)")
    extract.add_argument("--batch-size", type=int, default=1, help="batch size for FLOPs and latency (default 1)")
    extract.add_argument("--threads", type=int, default=None,
                         help="CPU threads for latency (default: PyTorch's, one fewer per core others keep busy)")
    extract.add_argument("--runtime", type=runtime_name, default=None,
                         help=f"where latency is measured: {', '.join(RUNTIMES)} or a plugin's (default pytorch)")
    extract.add_argument("--latency-samples", type=int, default=12, help="candidates measured to fit the latency predictor")
    extract.add_argument("--on-noise", choices=("raise", "warn"), default="warn",
                         help="when latency measurements look like noise (a busy CPU): warn and go on (default) or stop")
    extract.add_argument("--strategy", choices=("fptas", "interval"), default="fptas",
                         help="'fptas' (the epsilon guarantee, default) or 'interval' (the FPTAS paper's variant)")
    extract.add_argument("--out", default="hf-ose-out", help="output folder (default ./hf-ose-out)")
    extract.add_argument("--cache-dir", default=None, help="search cache (default OUT/cache; re-running resumes)")
    extract.add_argument("--quiet", action="store_true", help="no progress bars")
    extract.add_argument("--all", action="store_true",
                         help="print every point of the front (default: a summary of about 20 rows; front.csv has all)")
    errors = extract.add_argument_group("error objective")
    errors.add_argument("--error", choices=("prior", "distill", "task"), default="prior",
                        help="data-free prior (default), distillation surrogate (--texts) or task surrogate (--task, "
                             "or --train-file and --validation-file)")
    add_text_options(errors, "--error distill")
    errors.add_argument("--task", nargs="+", metavar="TASK",
                        help="the labelled task of --error task: sst2, rte, a datasets id NAME[:CONFIG] or a task "
                             "folder (its train and validation splits); two values are the deprecated spelling of "
                             "--train-file and --validation-file")
    errors.add_argument("--train-file", metavar="FILE", help="labelled training data for --error task instead of "
                                                             "--task: a file or a datasets id NAME[:SPLIT]")
    errors.add_argument("--validation-file", metavar="FILE", help="labelled validation data beside --train-file")
    errors.add_argument("--label-column", default="label", help="label column of the task files (default label)")
    errors.add_argument("--steps", type=int, default=None,
                        help="surrogate training steps per candidate (default: 25 distil, 100 task)")
    errors.add_argument("--seeds", type=int, default=None,
                        help="task surrogate: runs per candidate, with seeds 0..N-1, averaged (default 2)")
    add_renamed(errors, "--repeats", "--seeds", dest="seeds", type=int)
    errors.add_argument("--workers", type=int, default=1, help="score candidates in this many local processes")
    budgets = extract.add_argument_group(
        "budget", "choose a point within these limits, printed beside the W-best (Bort's W-coefficient) point; "
        "with --max-error-increase, the fastest such point, otherwise the lowest-error one")
    add_budget_options(budgets)
    return extract


def run(args: argparse.Namespace) -> int:
    """Run ``hf-ose extract``; errors propagate to the command line's handler."""
    from ..budgets import BudgetError
    from ..executors import LocalProcessExecutor
    from ..extractor import Objectives, OSEExtractor
    from ..front import SUMMARY_ROWS, format_front
    from ..io import ensure_writable_folder
    from ..latency import LatencySettings
    from ..latency.settings import cpu_description
    from ..parent import load_parent_model

    _check_error_options(args)
    budget = budget_from(args)
    out = ensure_writable_folder(args.out)
    parent = args.parent if args.error == "prior" else load_parent_model(args.parent)
    objectives = Objectives(
        error=_error_objective(args, parent),
        latency=LatencySettings(batch_size=args.batch_size, seq_len=args.seq_len, threads=args.threads,
                                runtime=args.runtime or "pytorch", on_noise=args.on_noise),
        latency_samples=args.latency_samples,
    )
    executor = LocalProcessExecutor(args.workers) if args.workers > 1 else None
    extractor = OSEExtractor(
        parent, space=args.space, epsilon=args.epsilon, objectives=objectives,
        cache_dir=args.cache_dir or out / "cache", strategy=args.strategy, executor=executor,
    )
    print(f"Parent: {args.parent} ({extractor.parent.model_type}, {extractor.space.parent_architecture})")
    print(f"Space: {len(extractor.space)} valid candidates, dropped {dict(extractor.space.dropped) or 'none'}")
    print(f"CPU: {cpu_description()}")
    print(extractor.abnc_report())
    try:
        front = extractor.extract(progress=not args.quiet)
    finally:
        if executor is not None:
            executor.close()
    chosen, missed = None, None
    if budget is not None:
        try:
            chosen = front.choose(**budget.limits())
        except BudgetError as error:
            missed = error
    print()
    print(format_front(front, chosen, budget, rows=None if args.all else SUMMARY_ROWS))
    front.to_json(out / "front.json")
    front.to_csv(out / "front.csv")
    front.plot(out / "front.png", chosen=chosen, budget=budget)
    front.save_pretrained(out / "configs")
    print(f"\nWrote {out}/front.json, front.csv, front.png and configs/ ({len(front)} config folders).")
    if missed is not None:
        print(f"hf-ose: error: {missed}", file=sys.stderr)
        return 2
    return 0


def _check_error_options(args: argparse.Namespace) -> None:
    """Refuse surrogate options that the chosen ``--error`` would silently ignore; read the deprecated
    ``--task TRAIN DEV`` as ``--train-file TRAIN --validation-file DEV``."""
    if args.task is not None and len(args.task) == 2:
        warn_renamed("--task TRAIN DEV", "--train-file TRAIN --validation-file DEV")
        (args.train_file, args.validation_file), args.task = args.task, None
    elif args.task is not None and len(args.task) > 2:
        raise ValueError(f"--task takes one task (a name or folder), not {len(args.task)} values.")
    for option, value, needs in (("--texts", args.texts, "distill"), ("--task", args.task, "task"),
                                 ("--train-file", args.train_file, "task"),
                                 ("--validation-file", args.validation_file, "task"), ("--seeds", args.seeds, "task")):
        if value is not None and args.error != needs:
            raise ValueError(f"{option} is for --error {needs}: use it with --error {needs}, or drop it.")
    if args.steps is not None and args.error == "prior":
        raise ValueError("--steps sets surrogate training steps: use it with --error distill or --error task.")
    if args.error == "task" and (args.task is None) == (args.train_file is None or args.validation_file is None):
        raise ValueError("--error task needs labelled data: --task TASK (a name or folder), or --train-file and "
                         "--validation-file (files or datasets ids), not both.")


def _error_objective(args: argparse.Namespace, parent: PreTrainedModel | str) -> ErrorObjective | None:
    """The error objective the arguments ask for (``None``: the data-free prior)."""
    if args.error == "prior":
        return None
    import torch

    from ..data import load_texts
    from ..surrogates import DistillationSurrogate, TaskSurrogate

    threads = max(1, torch.get_num_threads() // args.workers) if args.workers > 1 else None
    steps = {} if args.steps is None else {"steps": args.steps}  # None: the surrogate's own default
    if args.error == "distill":
        if not args.texts:
            raise ValueError("--error distill needs --texts (unlabelled text: a file or a datasets id).")
        texts = load_texts(data_source(args.texts), column=args.text_column)
        return DistillationSurrogate(parent, texts, **steps, threads=threads)
    train, dev, text_column = _labelled_data(args)
    seeds = {} if args.seeds is None else {"repeats": args.seeds}
    return TaskSurrogate(parent, train, dev, **steps, **seeds, text_column=text_column,
                         label_column=args.label_column, threads=threads)


def _labelled_data(args: argparse.Namespace) -> tuple[Any, Any, str]:
    """The task surrogate's training and validation data and their text column."""
    if args.task is None:
        return data_source(args.train_file), data_source(args.validation_file), args.text_column
    from ..tasks import load_task

    task = load_task(args.task[0])
    if task.kind != "classification":
        raise ValueError(f"--task {args.task[0]} is a {task.kind} task; the task surrogate fine-tunes classifiers: "
                         "use --error distill --texts FILE (no labels needed) or --error prior.")
    if len(task.text_columns) != 1:
        raise ValueError(f"--task {args.task[0]} holds sentence pairs ({', '.join(task.text_columns)}); the task "
                         "surrogate reads one text column: pass --train-file and --validation-file with --text-column.")
    return task.train, task.validation, task.text_columns[0]
