"""``hf-ose export``: the command-line face of :func:`hf_ose.export.export`."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..export.backend import KNOWN_EXTERNAL
from ..export.texts import CALIBRATION_SIZE, PARITY_SIZE


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``export`` to the ``hf-ose`` subcommands."""
    command = subparsers.add_parser(
        "export", help="A parity-checked CPU artifact (ONNX Runtime or OpenVINO) in Optimum's layout.",
        description="Export a sequence classifier (or regression model), token classifier or feature extractor, "
                    "check it against PyTorch with right and left padding, and keep it only within tolerance "
                    "(figures in OUT/export_report.json).",
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
                         help="real text (.txt/.tsv/.csv/.jsonl file, any size) for parity and int8 calibration "
                              "(default: a few built-in sentences)")
    command.add_argument("--text-column", default="sentence",
                         help="text column of --calibration (default sentence; a list of words, e.g. tokens, for a "
                              "token classifier)")
    command.add_argument("--calibration-size", type=int, default=CALIBRATION_SIZE, metavar="N",
                         help=f"int8 calibrates on a seeded sample of at most N texts (default {CALIBRATION_SIZE})")
    command.add_argument("--parity-size", type=int, default=PARITY_SIZE, metavar="N",
                         help=f"parity compares a seeded sample of at most N texts (default {PARITY_SIZE})")
    command.add_argument("--out", required=True, help="output folder (new, empty, or this model's earlier export)")
    command.add_argument("--overwrite", action="store_true", help="replace an export of a different model in --out")
    return command


def run(args: argparse.Namespace) -> int:
    """Run ``hf-ose export``; errors propagate to the command line's handler."""
    from ..export.backend import ExportError
    from ..export.core import export
    from ..export.texts import read_texts

    calibration = None
    if args.calibration is not None:
        if not Path(args.calibration).is_file():
            raise ExportError(f"--calibration {args.calibration}: no such file; pass a .txt/.tsv/.csv/.jsonl file.")
        calibration = read_texts(Path(args.calibration), column=args.text_column)
    report = export(args.model, args.out, backend=args.backend, precision=args.precision or "fp32",
                    calibration=calibration, overwrite=args.overwrite, calibration_size=args.calibration_size,
                    parity_size=args.parity_size)
    samples = report.samples
    calibrated = (f" Calibrated on {len(samples.calibration)} of {samples.given} texts (seed {samples.seed})."
                  if samples and report.calibrated else "")
    kind = report.parity.kind
    head = report.head if kind in report.head else f"{report.head}, {kind}"
    print(f"Exported {args.model} ({head}) with {report.backend} {report.precision} to {report.out_dir}: "
          f"{', '.join(path.name for path in report.files)}.{calibrated} Checked {report.parity.summary()}.")
    return 0
