"""``hf-ose push``: the command-line face of :func:`hf_ose.publish.push_to_hub`."""

from __future__ import annotations

import argparse

from ..publish.hub import DEFAULT_MESSAGE


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``push`` to the ``hf-ose`` subcommands."""
    command = subparsers.add_parser(
        "push", help="Publish a model folder (or a front's point folders) to the Hugging Face Hub.",
        description="Push DIR to the Hub repository REPO in one commit: model, tokenizer, card, artifacts and "
                    "reports. A front folder (one sub-folder per point) goes to one repository per point, or with "
                    "--branch-per-point to REPO with one branch per point. Only missing or changed files are sent, "
                    "so re-running a push that failed midway finishes it. The token comes from HF_TOKEN or "
                    "`hf auth login`; it is never printed.",
    )
    command.add_argument("folder", metavar="DIR", help="a model folder (config.json, weights, tokenizer, README.md) "
                                                       "or a front folder of point folders")
    command.add_argument("repo", metavar="REPO", help="the repository id, OWNER/NAME")
    command.add_argument("--private", action="store_true", help="create the repositories private (default public)")
    command.add_argument("--branch-per-point", action="store_true",
                         help="a front goes to REPO, one branch per point (default: one repository per point)")
    command.add_argument("--revision", default=None, help="the branch to push to (default main; created if missing)")
    command.add_argument("--message", default=DEFAULT_MESSAGE, help=f"commit message (default {DEFAULT_MESSAGE!r})")
    return command


def run(args: argparse.Namespace) -> int:
    """Run ``hf-ose push``; errors propagate to the command line's handler."""
    from ..publish.hub import push_to_hub

    results = push_to_hub(args.folder, args.repo, private=args.private, branch_per_point=args.branch_per_point,
                          revision=args.revision, commit_message=args.message)
    for result in results:
        if result.commit_url is None:
            print(f"{result.repo_id}@{result.revision}: up to date ({len(result.unchanged)} files already there).")
        else:
            print(f"{result.repo_id}@{result.revision}: committed {len(result.uploaded)} files "
                  f"({len(result.unchanged)} already there): {result.commit_url}")
    return 0
