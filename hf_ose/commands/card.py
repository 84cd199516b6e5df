"""``hf-ose card``: the command-line face of :func:`hf_ose.publish.write_folder_card`."""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``card`` to the ``hf-ose`` subcommands."""
    command = subparsers.add_parser(
        "card", help="Write or refresh a model folder's card (README.md) from what the folder holds.",
        description="Write DIR/README.md, the model card, from the folder: its config (size against the parent's), "
                    "compress_report.json (scores, latency, Agora rounds) or agora_report.json (the test score), and "
                    "front.json (the front, this model's point marked, drawn in front.png). An hf-ose card already "
                    "there is refreshed, keeping its parent, licence, dataset and name unless given here.",
    )
    command.add_argument("folder", metavar="DIR", help="a model folder (config.json, weights, tokenizer)")
    command.add_argument("--base-model", metavar="PARENT",
                         help="the parent the model was made from, a Hub id or folder (default: the card's)")
    command.add_argument("--name", help="the model's name on the card (default: the card's, else the folder's)")
    command.add_argument("--license", help="licence id for the metadata, e.g. apache-2.0 (default: the card's)")
    command.add_argument("--dataset", help="the task's dataset, a Hub id or name (default: the card's or the report's)")
    command.add_argument("--front", metavar="FRONT_JSON", help="a front.json written by hf-ose extract "
                                                               "(default: DIR/front.json when there is one)")
    command.add_argument("--overwrite", action="store_true",
                         help="replace a README.md hf-ose did not write (kept as README.md.bak)")
    return command


def run(args: argparse.Namespace) -> int:
    """Run ``hf-ose card``; errors propagate to the command line's handler."""
    from ..publish.folder_card import write_folder_card

    path = write_folder_card(args.folder, base_model=args.base_model, name=args.name, license=args.license,
                             dataset=args.dataset, front=args.front, overwrite=args.overwrite)
    print(f"Wrote {path}.")
    return 0
