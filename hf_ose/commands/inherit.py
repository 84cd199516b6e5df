"""``hf-ose inherit``: fill a variant from the parent's weights and save it."""

from __future__ import annotations

import argparse

from .options import add_text_options, data_source, existing_folder


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``inherit`` to the ``hf-ose`` subcommands."""
    inherit = subparsers.add_parser(
        "inherit", help="Fill a variant from the parent's weights and save it.",
        description="Build a variant config (a folder from `extract --out`) from the parent's weights.",
    )
    inherit.add_argument("parent", help="a local model folder or a Hub id (a model with weights)")
    inherit.add_argument("--config", required=True, type=existing_folder,
                         help="the variant's config folder (e.g. OUT/configs/point-03-...)")
    inherit.add_argument("--out", required=True, help="a new or empty folder for the student; the command prints the class that loads it")
    add_text_options(inherit, "activation-based selection of the inherited weights")
    return inherit


def run(args: argparse.Namespace) -> int:
    """Run ``hf-ose inherit``; errors propagate to the command line's handler."""
    from transformers import AutoTokenizer

    from ..adapters import get_adapter
    from ..data import load_texts
    from ..inheritance import extract_model, save_student
    from ..inheritance.saving import check_student_folder
    from ..io import ensure_writable_folder
    from ..parent import load_config_folder, load_parent_model, resolve_model_source

    out = ensure_writable_folder(check_student_folder(args.out))  # refused before any work, never overwritten
    parent = load_parent_model(args.parent)
    variant = load_config_folder(args.config)
    calibration = None
    if args.texts:
        tokenizer = AutoTokenizer.from_pretrained(resolve_model_source(args.parent))
        texts = load_texts(data_source(args.texts), column=args.text_column)[:64]
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
