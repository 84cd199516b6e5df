"""The ``hf-ose`` command line."""

from __future__ import annotations

import argparse
import logging
import sys
import warnings
from pathlib import Path
from typing import Sequence

import torch

from .adapters import get_adapter
from .errors import HfOseError
from .executors import LocalProcessExecutor
from .front import ParetoFront
from .hardware import cpu_description
from .io import ensure_writable_folder
from .parent import PRESETS, load_parent_model
from .surrogates.data import load_texts


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hf-ose", description="Optimal subarchitecture extraction for transformers.")
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
    extract.add_argument("--latency-samples", type=int, default=12, help="candidates measured to fit the latency predictor")
    extract.add_argument("--strategy", choices=("fptas", "interval"), default="fptas")
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

    inherit = commands.add_parser(
        "inherit", help="Fill a variant from the parent's weights and save it.",
        description="Build a variant config (a folder from `extract --out`) from the parent's weights.",
    )
    inherit.add_argument("parent", help="a local model folder or a Hub id (a model with weights)")
    inherit.add_argument("--config", required=True, help="the variant's config folder (e.g. OUT/configs/point-03-...)")
    inherit.add_argument("--out", required=True, help="where to save the student (loads with AutoModel.from_pretrained)")
    inherit.add_argument("--texts", help="calibration text (file or NAME[:SPLIT]): activation-based selection")
    inherit.add_argument("--text-column", default="sentence")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    warnings.simplefilter("default", UserWarning)
    try:
        return _extract(args) if args.command == "extract" else _inherit(args)
    except (HfOseError, ValueError) as error:
        print(f"hf-ose: error: {error}", file=sys.stderr)
        return 2


def _extract(args: argparse.Namespace) -> int:
    from .extractor import Objectives, OSEExtractor
    from .objectives.latency import LatencySettings

    out = ensure_writable_folder(args.out)
    parent = args.parent if args.error == "prior" else load_parent_model(args.parent)
    objectives = Objectives(
        error=_error_objective(args, parent),
        latency=LatencySettings(batch_size=args.batch_size, seq_len=args.seq_len, threads=args.threads),
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
    front = extractor.extract(progress=not args.quiet)
    print()
    print(format_front(front))
    front.to_json(out / "front.json")
    front.to_csv(out / "front.csv")
    front.plot(out / "front.png")
    front.save_pretrained(out / "configs")
    print(f"\nWrote {out}/front.json, front.csv, front.png and configs/ ({len(front)} config folders).")
    if executor is not None:
        executor.close()
    return 0


def _error_objective(args: argparse.Namespace, parent):
    """The error objective the arguments ask for (``None``: the data-free prior)."""
    if args.error == "prior":
        return None
    from .surrogates import DistillationSurrogate, TaskSurrogate

    threads = max(1, torch.get_num_threads() // args.workers) if args.workers > 1 else None
    steps = {} if args.steps is None else {"steps": args.steps}  # None: the surrogate's own default
    if args.repeats is not None and args.error != "task":
        raise ValueError("--repeats averages task-surrogate runs: use it with --error task.")
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
    from transformers import AutoConfig, AutoTokenizer

    from .inheritance import extract_model

    out = ensure_writable_folder(args.out)
    parent = load_parent_model(args.parent)
    variant = AutoConfig.from_pretrained(args.config)
    calibration = None
    if args.texts:
        tokenizer = AutoTokenizer.from_pretrained(args.parent)
        texts = load_texts(_data_source(args.texts), column=args.text_column)[:64]
        calibration = tokenizer(texts, padding=True, truncation=True, max_length=128, return_tensors="pt")
    student = extract_model(parent, variant, calibration)
    student.save_pretrained(out)
    try:
        AutoTokenizer.from_pretrained(args.parent).save_pretrained(out)
    except (OSError, ValueError):
        print("hf-ose: note: the parent has no tokenizer to copy; save one beside the student yourself.")
    arch = get_adapter(variant).read(variant)
    print(f"Saved a {type(student).__name__} ({arch}, {sum(p.numel() for p in student.parameters()) / 1e6:.1f}M "
          f"parameters) inherited from {args.parent} to {out}; load it with AutoModel.from_pretrained.")
    return 0


def format_front(front: ParetoFront) -> str:
    """The front as a terminal table, the W-best point marked, with how the numbers were obtained."""
    best = front.best("w")
    info = front.info
    header = f"{'':2}{'architecture':<28}{'params':>10}{'non-emb':>10}{'GFLOPs':>9}{'latency ms':>13}{'error':>9}{'W':>8}"
    lines = [header, "-" * len(header)]
    for point in front.points:
        marker = "*" if point is best else ""
        source = "" if point.latency_source == "measured" else "~"
        lines.append(
            f"{marker:2}{str(point.architecture):<28}{point.params / 1e6:>9.1f}M{point.effective_params / 1e6:>9.1f}M"
            f"{point.flops / 1e9:>9.2f}{source + f'{point.latency_ms:.1f}':>13}{point.error:>9.4f}"
            f"{point.w(front.reference):>8.4f}"
        )
    latency = info["latency"]
    lines += [
        "",
        f"* W-best: {best.architecture}  ({best.params / 1e6:.1f}M parameters, {best.latency_ms:.1f} ms, "
        f"{front.reference.latency_ms / best.latency_ms:.1f}x faster than the parent)",
        f"Front: {len(front)} points from {info['candidates']} candidates; {info['evaluations']} error evaluations "
        f"(bound {info['evaluation_bound']}, {info['cached_evaluations']} from the cache), epsilon={info['epsilon']}, "
        f"strategy={info['strategy']}, {info['seconds']} s.",
        f"Latency: {latency['measured']} measured, the rest predicted (~); predictor held-out error "
        f"mean {100 * latency['held_out_mean_relative_error']:.1f}%, worst {100 * latency['held_out_max_relative_error']:.1f}% "
        f"(batch {latency['batch_size']}, sequence {latency['seq_len']}, {latency['threads']} threads, {latency['runtime']}).",
    ]
    if info["error_is_prior"]:
        lines.append(
            f"Errors are PRIOR ESTIMATES ({info['error_objective']}): no weights or data were used. "
            "Plug in a measured error objective to rank depth against width."
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
