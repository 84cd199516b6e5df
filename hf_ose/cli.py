"""The ``hf-ose`` command line."""

from __future__ import annotations

import argparse
import logging
import sys
import warnings
from pathlib import Path
from typing import Sequence

import torch

from . import __version__
from .adapters import get_adapter
from .agora.command import add_finetune_command, run_finetune
from .compression.command import add_compress_command, run_compress
from .budgets import Budget, BudgetError
from .data import load_texts
from .errors import HfOseError
from .executors import LocalProcessExecutor
from .export.bench_command import add_bench_command, run_bench
from .export.command import add_export_command, run_export
from .front import ParetoFront
from .io import ensure_writable_folder
from .latency.settings import RuntimeNotAvailableError, check_runtime_name, cpu_description, runtime_names
from .parent import PRESETS, load_config_folder, load_parent_model
from .publish.command import add_push_command, run_push
from .record import ParetoPoint, ReferencePoint, SearchRecord


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hf-ose", description="Optimal subarchitecture extraction for transformers.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    extract = commands.add_parser(
        "extract", help="Pareto-optimal variants of a parent over (parameters, latency, error).",
        description="Search a parent's architecture space and write the Pareto front.",
    )
    extract.add_argument("parent", help=f"a local model folder, a Hub id, or a preset: {', '.join(PRESETS)}")
    extract.add_argument("--space", default="auto", help="'auto' (derived from the parent), 'bort', or a JSON grid file")
    extract.add_argument("--epsilon", type=float, default=0.1, help="approximation factor in (0, 1] (default 0.1)")
    extract.add_argument("--seq-len", type=int, default=128, help="sequence length for FLOPs and latency (default 128)")
    extract.add_argument("--batch-size", type=int, default=1, help="batch size for FLOPs and latency (default 1)")
    extract.add_argument("--threads", type=int, default=None, help="CPU threads for latency (default: PyTorch's)")
    extract.add_argument("--runtime", type=_runtime_name, default="pytorch",
                         help=f"where latency is measured: {', '.join(runtime_names())} (default pytorch)")
    extract.add_argument("--latency-samples", type=int, default=12, help="candidates measured to fit the latency predictor")
    extract.add_argument("--on-noise", choices=("raise", "warn"), default="raise",
                         help="when latency measurements look like noise (a busy CPU): stop (default) or warn and go on")
    extract.add_argument("--strategy", choices=("fptas", "interval"), default="fptas",
                         help="'fptas' (the epsilon guarantee, default) or 'interval' (the FPTAS paper's variant)")
    extract.add_argument("--out", default="hf-ose-out", help="output folder (default ./hf-ose-out)")
    extract.add_argument("--cache-dir", default=None, help="search cache (default OUT/cache; re-running resumes)")
    extract.add_argument("--quiet", action="store_true", help="no progress bars")
    errors = extract.add_argument_group("error objective")
    errors.add_argument("--error", choices=("prior", "distill", "task"), default="prior",
                        help="data-free prior (default), distillation surrogate (--texts) or task surrogate (--task)")
    errors.add_argument("--texts", help="unlabelled text: a .txt/.tsv/.csv/.jsonl file or a datasets id NAME[:SPLIT]")
    errors.add_argument("--text-column", default="sentence", help="text column of --texts and --task (default sentence)")
    errors.add_argument("--task", nargs=2, metavar=("TRAIN", "DEV"), help="labelled train and dev data (files or NAME[:SPLIT])")
    errors.add_argument("--label-column", default="label", help="label column of --task (default label)")
    errors.add_argument("--steps", type=int, default=None,
                        help="surrogate training steps per candidate (default: 25 distil, 100 task)")
    errors.add_argument("--repeats", type=int, default=None,
                        help="task surrogate: independent runs averaged per candidate (default 2)")
    errors.add_argument("--workers", type=int, default=1, help="score candidates in this many local processes")
    budgets = extract.add_argument_group(
        "budget", "choose a point within these limits, printed beside the W-best (Bort's W-coefficient) point; "
        "with --max-error-increase, the fastest such point, otherwise the lowest-error one")
    budgets.add_argument("--max-latency-ms", type=float, metavar="MS", help="latency at most MS milliseconds")
    budgets.add_argument("--min-speedup", type=float, metavar="X",
                         help="at least X times faster than the parent (measured in the same run)")
    budgets.add_argument("--max-params", type=_parameter_count, metavar="N",
                         help="at most N parameters (e.g. 20000000, 2e7 or 20M)")
    budgets.add_argument("--max-error-increase", type=float, metavar="E",
                         help="error at most the parent's error plus E, in the error column's units")

    inherit = commands.add_parser(
        "inherit", help="Fill a variant from the parent's weights and save it.",
        description="Build a variant config (a folder from `extract --out`) from the parent's weights.",
    )
    inherit.add_argument("parent", help="a local model folder or a Hub id (a model with weights)")
    inherit.add_argument("--config", required=True, type=_existing_folder,
                         help="the variant's config folder (e.g. OUT/configs/point-03-...)")
    inherit.add_argument("--out", required=True, help="a new or empty folder for the student; the command prints the class that loads it")
    inherit.add_argument("--texts", help="calibration text (file or NAME[:SPLIT]): activation-based selection")
    inherit.add_argument("--text-column", default="sentence", help="text column of --texts (default sentence)")
    add_export_command(commands)
    add_bench_command(commands)
    add_finetune_command(commands)
    add_push_command(commands)
    add_compress_command(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    warnings.simplefilter("default", UserWarning)
    try:
        commands = {"extract": _extract, "inherit": _inherit, "export": run_export, "finetune": run_finetune,
                    "push": run_push, "bench": run_bench, "compress": run_compress}
        return commands[args.command](args)
    except (HfOseError, ValueError) as error:
        print(f"hf-ose: error: {error}", file=sys.stderr)
        return 2


def _extract(args: argparse.Namespace) -> int:
    from .extractor import Objectives, OSEExtractor
    from .latency import LatencySettings

    _check_error_options(args)
    limits = {name: getattr(args, name) for name in BUDGETS if getattr(args, name) is not None}
    budget = Budget(**limits) if limits else None  # refused here, before any work, when malformed
    out = ensure_writable_folder(args.out)
    parent = args.parent if args.error == "prior" else load_parent_model(args.parent)
    objectives = Objectives(
        error=_error_objective(args, parent),
        latency=LatencySettings(batch_size=args.batch_size, seq_len=args.seq_len, threads=args.threads,
                                runtime=args.runtime, on_noise=args.on_noise),
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
    print(format_front(front, chosen, budget))
    front.to_json(out / "front.json")
    front.to_csv(out / "front.csv")
    front.plot(out / "front.png", chosen=chosen)
    front.save_pretrained(out / "configs")
    print(f"\nWrote {out}/front.json, front.csv, front.png and configs/ ({len(front)} config folders).")
    if missed is not None:
        print(f"hf-ose: error: {missed}", file=sys.stderr)
        return 2
    return 0


#: The budget options of ``extract``, named as :class:`~hf_ose.budgets.Budget`'s limits.
BUDGETS = ("max_latency_ms", "min_speedup", "max_params", "max_error_increase")


def _check_error_options(args: argparse.Namespace) -> None:
    """Refuse surrogate options that the chosen ``--error`` would silently ignore."""
    for option, value, needs in (("--texts", args.texts, "distill"), ("--task", args.task, "task"),
                                 ("--repeats", args.repeats, "task")):
        if value is not None and args.error != needs:
            raise ValueError(f"{option} is for --error {needs}: use it with --error {needs}, or drop it.")
    if args.steps is not None and args.error == "prior":
        raise ValueError("--steps sets surrogate training steps: use it with --error distill or --error task.")


def _error_objective(args: argparse.Namespace, parent):
    """The error objective the arguments ask for (``None``: the data-free prior)."""
    if args.error == "prior":
        return None
    from .surrogates import DistillationSurrogate, TaskSurrogate

    threads = max(1, torch.get_num_threads() // args.workers) if args.workers > 1 else None
    steps = {} if args.steps is None else {"steps": args.steps}  # None: the surrogate's own default
    if args.error == "distill":
        if not args.texts:
            raise ValueError("--error distill needs --texts (unlabelled text: a file or a datasets id).")
        texts = load_texts(_data_source(args.texts), column=args.text_column)
        return DistillationSurrogate(parent, texts, **steps, threads=threads)
    if not args.task:
        raise ValueError("--error task needs --task TRAIN DEV (labelled data: files or datasets ids).")
    train, dev = (_data_source(source) for source in args.task)
    repeats = {} if args.repeats is None else {"repeats": args.repeats}
    return TaskSurrogate(parent, train, dev, **steps, **repeats, text_column=args.text_column,
                         label_column=args.label_column, threads=threads)


def _data_source(spec: str):
    """A local file, or a ``datasets`` id ``NAME[:SPLIT]`` (split ``train`` by default)."""
    if Path(spec).exists():
        return Path(spec)
    import datasets

    name, _, split = spec.partition(":")
    try:
        return datasets.load_dataset(name, split=split or "train")
    except Exception as error:  # datasets raises many types for a missing or unreachable dataset
        raise ValueError(
            f"{spec!r} is neither a local file nor a loadable dataset ({type(error).__name__}: {error}). "
            "Pass a .txt/.tsv/.csv/.jsonl file, or a datasets id NAME[:SPLIT] when online."
        ) from error


def _inherit(args: argparse.Namespace) -> int:
    from transformers import AutoTokenizer

    from .inheritance import extract_model, save_student
    from .inheritance.saving import check_student_folder

    out = ensure_writable_folder(check_student_folder(args.out))  # refused before any work, never overwritten
    parent = load_parent_model(args.parent)
    variant = load_config_folder(args.config)
    calibration = None
    if args.texts:
        tokenizer = AutoTokenizer.from_pretrained(args.parent)
        texts = load_texts(_data_source(args.texts), column=args.text_column)[:64]
        calibration = tokenizer(texts, padding=True, truncation=True, max_length=128, return_tensors="pt")
    student = extract_model(parent, variant, calibration)
    saved = save_student(student, out, parent=args.parent)
    if not saved.tokenizer:
        print("hf-ose: note: the parent has no tokenizer to copy; save one beside the student yourself.")
    arch = get_adapter(variant).read(variant)
    pipeline = " with the parent's sentence-transformers pipeline" if saved.sentence_transformers else ""
    print(f"Saved a {type(student).__name__} ({arch}, {sum(p.numel() for p in student.parameters()) / 1e6:.1f}M "
          f"parameters) inherited from {args.parent} to {out}{pipeline}; {saved.how_to_load()}.")
    return 0


def format_front(front: ParetoFront, chosen: ParetoPoint | None = None, budget: Budget | None = None) -> str:
    """The front as a terminal table, the W-best point marked ``*`` and a point ``chosen`` within ``budget``
    ``>``, with what the error column measures and how the numbers were obtained."""
    best, reference, record = front.best("w"), front.reference, front.record
    header = f"{'':2}{'architecture':<28}{'params':>10}{'non-emb':>10}{'GFLOPs':>9}{'latency ms':>13}{'error':>9}{'W':>8}"
    lines = [header, "-" * len(header)]
    for point in front.points:
        marker = ("*" if point is best else "") + (">" if point is chosen else "")
        source = "~" if point.latency_source == "predicted" else ""
        lines.append(
            f"{marker:2}{str(point.architecture):<28}{point.params / 1e6:>9.1f}M{point.effective_params / 1e6:>9.1f}M"
            f"{point.flops / 1e9:>9.2f}{source + f'{point.latency_ms:.1f}':>13}{point.error:>9.4f}"
            f"{point.w(reference):>8.4f}"
        )
    lines += ["", f"* W-best: {_describe(best, reference)} [Bort's W-coefficient]"]
    if chosen is not None:
        lines.append(f"> Chosen: {_describe(chosen, reference)}" + (f" [{budget.criterion()}]" if budget else ""))
    parent_error = "unknown" if reference.error is None else f"{reference.error:.4f}"
    lines.append(f"  Parent (T): {reference.params / 1e6:.1f}M parameters, {reference.latency_ms:.1f} ms, error {parent_error}")
    return "\n".join(lines + (_record_lines(record, len(front)) if record is not None else []))


def _describe(point: ParetoPoint, reference: ReferencePoint) -> str:
    return (f"{point.architecture}  ({point.params / 1e6:.1f}M parameters, {point.latency_ms:.1f} ms, "
            f"{point.speedup(reference):.1f}x faster than the parent, error {point.error:.4f})")


def _record_lines(record: SearchRecord, size: int) -> list[str]:
    """What the error column measures, the search's cost and the latency predictor's accuracy."""
    settings, latency = record.settings, record.latency
    mean, worst = latency.get("held_out_mean_relative_error"), latency.get("held_out_max_relative_error")
    held_out = (
        f"predictor held-out error mean {100 * mean:.1f}%, worst {100 * worst:.1f}%"
        if mean is not None and worst is not None
        else "predictor held-out error not available (too few measured points to hold one out: raise --latency-samples)"
    )
    lines = [
        f"Error column: {settings.error_objective} (lower is better).",
        f"Front: {size} points from {record.candidates} candidates; {record.evaluations} error evaluations (bound "
        f"{record.evaluation_bound}, {record.cached_evaluations} from the cache), epsilon={settings.epsilon}, "
        f"strategy={settings.strategy}, {record.seconds} s.",
        f"Latency: {latency['measured']} measured, {latency['predicted']} predicted (~); {held_out} "
        f"(batch {latency['batch_size']}, sequence {latency['seq_len']}, {latency['threads']} threads, "
        f"{latency['runtime']}).",
    ]
    if settings.error_is_prior:
        lines.append(
            f"Errors are PRIOR ESTIMATES ({settings.error_objective}): no weights or data were used. "
            "Plug in a measured error objective to rank depth against width."
        )
    return lines


def _parameter_count(text: str) -> float:
    """A parameter count from the command line: ``20000000``, ``2e7``, ``20M`` or ``800K``."""
    scale = {"K": 1e3, "M": 1e6, "B": 1e9}.get(text[-1:].upper(), 1.0)
    try:
        return float(text[:-1] if scale != 1.0 else text) * scale
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a parameter count: write e.g. 20000000, 2e7 or 20M."
        ) from None


def _existing_folder(text: str) -> str:
    if not Path(text).is_dir():
        raise argparse.ArgumentTypeError(
            f"the folder {text} does not exist: pass a config folder written by `hf-ose extract` "
            "(OUT/configs/point-NN-...)."
        )
    return text


def _runtime_name(text: str) -> str:
    try:
        check_runtime_name(text)
    except RuntimeNotAvailableError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return text


if __name__ == "__main__":
    sys.exit(main())
