"""``hf-ose compress``: the command-line face of :func:`hf_ose.compression.pipeline.compress`."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from .options import RUNTIMES, add_budget_options, budget_from

if TYPE_CHECKING:
    from ..compression.settings import CompressSettings


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``compress`` to the ``hf-ose`` subcommands."""
    command = subparsers.add_parser(
        "compress", help="Parent + task -> a smaller, faster, checked model with its int8 artifact and card.",
        description="Fine-tune a teacher, search the parent's space, pick a point, inherit and distil it, fine-tune "
                    "it with AgoraTrainer, export it at int8 (or fp32), check it, benchmark it against the parent "
                    "and write its model card; a line per stage on stderr. Re-running resumes: finished stages are "
                    "reused.",
    )
    command.add_argument("parent", help="the parent: a local model folder (or a Hub id)")
    command.add_argument("--task", required=True,
                         help="sst2, rte, stsb (regression), wnut17 (token classification), a datasets id, or a "
                              "folder of train/validation/test files (an embedding task: a sentence-transformers "
                              "package)")
    command.add_argument("--out", required=True, help="output folder (new, empty, or this run's earlier output)")
    command.add_argument("--teacher", help="a model fine-tuned on the task (its head checked) to use instead of "
                                           "training one")
    command.add_argument("--quick", action="store_true",
                         help="a smoke run of every stage in minutes: 512 training rows, 128 development and test "
                              "rows, short training, ONNX Runtime only (options given too still apply)")
    command.add_argument("--precision", choices=("int8", "fp32"),  # compression's PRECISIONS
                         help="int8 (default; an int8 artifact failing parity falls back to its backend's fp32 "
                              "one) or fp32")
    command.add_argument("--runtime", choices=RUNTIMES[1:],
                         help="the one runtime to export to, of --precision (default: every installed one, shipping "
                              "the fastest measured on this CPU that agrees with the student on --min-agreement of "
                              "the development predictions)")
    command.add_argument("--min-agreement", type=float,
                         help="share of development predictions (or word tags) the shipped artifact must share with "
                              "the student in PyTorch; for scores, their Pearson correlation; for embeddings, their "
                              "mean cosine (default 0.99)")
    budget = command.add_argument_group("budget (default: --min-speedup 2.2)")  # compression's DEFAULT_MIN_SPEEDUP
    add_budget_options(budget)
    command.add_argument("--epsilon", type=float, help="the search's approximation factor (default 0.1)")
    command.add_argument("--train-rows", type=int, help="training rows every fine-tune reads (default 8000; 0 for all)")
    command.add_argument("--teacher-epochs", type=float, help="epochs of the teacher's fine-tune (default 2)")
    command.add_argument("--distill-steps", type=int,
                         help="steps distilling the inherited student from the teacher (default 200)")
    command.add_argument("--student-epochs", type=float, help="epochs of each Agora fine-tune of the student (default 3)")
    command.add_argument("--seed", type=int, help="seed of every fine-tune and sample (default 0)")
    command.add_argument("--unlabelled", metavar="FILE",
                         help="unlabelled in-domain text (.txt one a line, or .jsonl/.csv/.tsv; words in 'tokens' for "
                              "NER): Agora samples its new points from it, near the development mistakes")
    command.add_argument("--pool-labelled", type=int, metavar="N",
                         help="random --unlabelled texts the teacher labels up front as extra training rows (soft "
                              "targets; -1: all; default 0): with scarce labels, the measured best use of a pool")
    command.add_argument("--checkpoint-steps", type=int,
                         help="steps between the checkpoints a killed fine-tune resumes from (default 100)")
    command.add_argument("--threads", type=int,
                         help="CPU threads for latency (default: PyTorch's, one fewer per core others keep busy)")
    command.add_argument("--push-to", metavar="REPO", help="push the model folder to this Hub repository")
    command.add_argument("--overwrite", action="store_true", help="discard another run's stages in --out")
    command.add_argument("--quiet", action="store_true", help="no progress bars")
    return command


def run(args: argparse.Namespace) -> int:
    """Run ``hf-ose compress``; errors propagate to the command line's handler."""
    from ..compression.pipeline import compress
    from ..compression.delivery import format_stage_times, format_summary

    settings = _settings(args)  # malformed options are refused here, before any work
    if args.push_to:
        from ..publish.hub import check_online

        check_online()  # before hours of work, not after
    result = compress(settings, args.out, overwrite=args.overwrite, progress=not args.quiet)
    print(format_summary(result.summary()))
    print(format_stage_times(result.seconds))
    artifacts = ", ".join(result.stages["export"]["artifacts"]) or "no artifact: the PyTorch student only"
    print(f"\nThe model, its artifacts ({artifacts}), reports and card: {result.folder}")
    if args.push_to:
        from ..publish.hub import push_to_hub

        for pushed in push_to_hub(result.folder, args.push_to):
            print(f"Pushed to {pushed.repo_id}@{pushed.revision}: {len(pushed.uploaded)} files uploaded, "
                  f"{len(pushed.unchanged)} already there.")
    return 0


#: Options passed to the settings under their own names when given (left out, the settings' defaults apply, or
#: ``--quick``'s).
_PASSED = ("teacher", "precision", "runtime", "epsilon", "seed", "threads", "min_agreement", "checkpoint_steps",
           "teacher_epochs", "distill_steps", "student_epochs", "unlabelled", "pool_labelled")


def _settings(args: argparse.Namespace) -> CompressSettings:
    """The run's settings from the parsed options: the defaults (or ``--quick``'s) where none is given."""
    from ..compression.settings import CompressSettings

    given: dict[str, Any] = {name: getattr(args, name) for name in _PASSED if getattr(args, name) is not None}
    if args.train_rows is not None:
        given["train_rows"] = args.train_rows or None  # 0: every row
    budget = budget_from(args)
    if budget is not None:
        given["budget"] = budget
    make = CompressSettings.quick if args.quick else CompressSettings
    return make(parent=args.parent, task=args.task, **given)
