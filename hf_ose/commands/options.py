"""The command line's shared vocabulary (docs/cli.md): options several subcommands take, spelled and parsed
alike, with the old spellings they replace; argument types; data sources. Nothing here imports torch or
transformers at parse time."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..renamed_options import RenamedOption

if TYPE_CHECKING:
    from datasets import Dataset

    from ..budgets import Budget

#: The runtimes hf-ose ships or integrates (``hf_ose.latency.runtime_names()`` adds plugins'): where a model runs,
#: spelled alike by ``extract --runtime`` (latency), ``export --runtime`` (the artifact) and ``compress --runtime``.
RUNTIMES = ("pytorch", "onnxruntime", "onnxruntime-int8", "openvino", "openvino-int8")

#: The budget options of ``extract`` and ``compress``, named as :class:`~hf_ose.budgets.Budget`'s limits.
BUDGETS = ("max_latency_ms", "min_speedup", "max_params", "max_error_increase")


def parameter_count(text: str) -> float:
    """A parameter count from the command line: ``20000000``, ``2e7``, ``20M`` or ``800K``."""
    scale = {"K": 1e3, "M": 1e6, "B": 1e9}.get(text[-1:].upper(), 1.0)
    try:
        return float(text[:-1] if scale != 1.0 else text) * scale
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a parameter count: write e.g. 20000000, 2e7 or 20M."
        ) from None


def existing_folder(text: str) -> str:
    """A config folder written by ``hf-ose extract`` that exists."""
    if not Path(text).is_dir():
        raise argparse.ArgumentTypeError(
            f"the folder {text} does not exist: pass a config folder written by `hf-ose extract` "
            "(OUT/configs/point-NN-...)."
        )
    return text


def runtime_name(text: str) -> str:
    """The name of a latency runtime that is installed (the runtime registry loads only when one is named)."""
    from ..latency.settings import RuntimeNotAvailableError, check_runtime_name

    try:
        check_runtime_name(text)
    except RuntimeNotAvailableError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return text


def add_renamed(parser: argparse.ArgumentParser | argparse._ArgumentGroup, old: str, new: str, *, dest: str,
                **kwargs: Any) -> None:
    """Accept ``old``, a deprecated spelling of the option ``new`` (which stores into ``dest``), for one more
    release: it parses as ``kwargs`` say, warns in one line and is hidden from ``--help``."""
    parser.add_argument(old, action=RenamedOption, new=new, dest=dest, **kwargs)


def add_text_options(parser: argparse.ArgumentParser | argparse._ArgumentGroup, purpose: str) -> None:
    """``--texts`` (unlabelled text, used for ``purpose``) and ``--text-column``, alike in every subcommand."""
    parser.add_argument("--texts", metavar="FILE_OR_DATASET",
                        help=f"unlabelled text for {purpose}: a .txt/.tsv/.csv/.jsonl file or a datasets id "
                             "NAME[:SPLIT]")
    parser.add_argument("--text-column", default="sentence",
                        help="text column of --texts and task files (default sentence)")


def add_shared_options(command: argparse.ArgumentParser) -> None:
    """Options every subcommand takes: ``--verbose``."""
    command.add_argument("--verbose", action="store_true",
                         help="also show third-party log lines hf-ose hides (ONNX Runtime's pre-processing hints, "
                              "transformers' LOAD REPORT tables and loss notices) and hf-ose's info lines")


def add_budget_options(group: argparse._ArgumentGroup) -> None:
    """The budget options (:data:`BUDGETS`), parsed alike by every subcommand that takes a budget."""
    group.add_argument("--max-latency-ms", type=float, metavar="MS",
                       help="latency at most MS milliseconds, as the search measures it")
    group.add_argument("--min-speedup", type=float, metavar="X",
                       help="at least X times faster than the parent (measured in the same run)")
    group.add_argument("--max-params", type=parameter_count, metavar="N",
                       help="at most N parameters (e.g. 20000000, 2e7 or 20M)")
    group.add_argument("--max-error-increase", type=float, metavar="E",
                       help="error at most the parent's error plus E, in the error column's units")


def budget_from(args: argparse.Namespace) -> Budget | None:
    """The budget the options give (``None``: none given); a malformed one is refused here, before any work."""
    from ..budgets import Budget

    limits = {name: getattr(args, name) for name in BUDGETS if getattr(args, name) is not None}
    return Budget(**limits) if limits else None


def interrupted(args: argparse.Namespace) -> str:
    """What an interrupted (Ctrl-C) subcommand kept, and how to go on."""
    if args.command == "extract":
        cache = args.cache_dir or Path(args.out) / "cache"
        return f"scores measured so far are kept in {cache}; run the same command again to resume."
    if args.command == "compress":
        return f"finished stages are kept in {args.out}; run the same command again to resume."
    if args.command == "push":
        return ("the local folder is untouched; run the same command again to finish the push: files already "
                "committed are not sent again.")
    if args.command == "export":
        return f"{args.out} keeps only exports that had finished before; run the same command again to export."
    if args.command == "finetune":
        return (f"{args.out} may hold a partial run, which finetune does not resume: delete it (or pass a new "
                "--out) and run the command again.")
    return "nothing was written; run the same command again."


def data_source(spec: str) -> Path | Dataset:
    """A local file, or a ``datasets`` id ``NAME[:SPLIT]`` (split ``train`` by default)."""
    if Path(spec).exists():
        return Path(spec)
    if Path(spec).suffix in (".txt", ".tsv", ".csv", ".jsonl"):
        raise ValueError(f"{spec}: no such file; pass an existing .txt/.tsv/.csv/.jsonl file or a datasets id "
                         "NAME[:SPLIT].")
    import datasets

    name, _, split = spec.partition(":")
    try:
        return datasets.load_dataset(name, split=split or "train")
    except Exception as error:  # datasets raises many types for a missing or unreachable dataset
        raise ValueError(
            f"{spec!r} is neither a local file nor a loadable dataset ({type(error).__name__}: {error}). "
            "Pass a .txt/.tsv/.csv/.jsonl file, or a datasets id NAME[:SPLIT] when online."
        ) from error
