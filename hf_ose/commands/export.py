"""``hf-ose export``: the command-line face of :func:`hf_ose.export.export`."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..export.backend import KNOWN_EXTERNAL


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``export`` to the ``hf-ose`` subcommands."""
    command = subparsers.add_parser(
        "export", help="A parity-checked CPU artifact (ONNX Runtime or OpenVINO) in Optimum's layout.",
        description="Export a sequence classifier or feature extractor, check it against PyTorch with right and "
                    "left padding, and keep it only within tolerance (figures in OUT/export_report.json).",
    )
    command.add_argument("model", help="a local model folder (config.json, weights and tokenizer)")
    command.add_argument("--backend", required=True, help=f"export backend: {', '.join(KNOWN_EXTERNAL)}")
    precision = command.add_mutually_exclusive_group()
    precision.add_argument("--int8", action="store_const", const="int8", dest="precision",
                           help="int8 instead of fp32 (the same as --precision int8)")
    precision.add_argument("--precision", choices=("fp32", "int8", "int8-static"),
                           help="fp32 (default); int8 (ONNX: dynamic, OpenVINO: NNCF); int8-static (ONNX only: "
                                "static QDQ int8 calibrated on --calibration)")
    command.add_argument("--calibration", metavar="TEXTS",
                         help="real text (.txt/.tsv/.csv/.jsonl file) for parity and int8 calibration "
                              "(default: a few built-in sentences)")
    command.add_argument("--text-column", default="sentence", help="text column of --calibration (default sentence)")
    command.add_argument("--out", required=True, help="output folder (new, empty, or this model's earlier export)")
    command.add_argument("--overwrite", action="store_true", help="replace an export of a different model in --out")
    return command


def run(args: argparse.Namespace) -> int:
    """Run ``hf-ose export``; errors propagate to the command line's handler."""
    from ..data import load_texts
    from ..export.core import export
    from ..export.backend import ExportError

    calibration = None
    if args.calibration is not None:
        if not Path(args.calibration).is_file():
            raise ExportError(f"--calibration {args.calibration}: no such file; pass a .txt/.tsv/.csv/.jsonl file.")
        calibration = load_texts(Path(args.calibration), column=args.text_column)
    report = export(args.model, args.out, backend=args.backend, precision=args.precision or "fp32",
                    calibration=calibration, overwrite=args.overwrite)
    parity = report.parity
    figures = [f"max abs difference {parity.max_abs_diff:.3g}"]
    if parity.agreement is not None:
        figures.append(f"agreement {parity.agreement:.2%}")
    if parity.min_cosine is not None:
        figures.append(f"min token cosine {parity.min_cosine:.4f}")
    print(f"Exported {args.model} ({report.head}) with {report.backend} {report.precision} to {report.out_dir}: "
          f"{', '.join(path.name for path in report.files)}. Parity on {parity.texts} texts, right and left "
          f"padding: {', '.join(figures)}.")
    return 0
