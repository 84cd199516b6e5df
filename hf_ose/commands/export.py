"""``hf-ose export``: the command-line face of :func:`hf_ose.export.export`."""

from __future__ import annotations

import argparse

from .options import RUNTIMES, add_renamed, add_text_options, data_source


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``export`` to the ``hf-ose`` subcommands."""
    command = subparsers.add_parser(
        "export", help="A parity-checked CPU artifact (ONNX Runtime or OpenVINO) in Optimum's layout.",
        description="Export a sequence classifier (or regression model), token classifier or feature extractor "
                    "for a runtime, check it against PyTorch with right and left padding, and keep it only within "
                    "tolerance (figures in OUT/export_report.json).",
    )
    command.add_argument("model", help="a local model folder (config.json, weights and tokenizer)")
    command.add_argument("--runtime", help=f"the runtime the artifact is for: {', '.join(RUNTIMES[1:])} (an -int8 "
                                           "name is the same as --precision int8), or a plugin's export backend")
    command.add_argument("--precision", choices=("fp32", "int8", "int8-static"),
                         help="fp32 (default); int8 (ONNX: dynamic, OpenVINO: NNCF); int8-static (ONNX only: static "
                              "QDQ int8 calibrated on --texts)")
    add_text_options(command, "the parity check and int8 calibration (default: a few built-in sentences; a "
                              "whole training file is fine: both draw bounded seeded samples)")
    command.add_argument("--calibration-size", type=int, default=300, metavar="N",
                         help="int8 calibrates on a seeded sample of at most N texts (default 300)")
    command.add_argument("--parity-size", type=int, default=200, metavar="N",
                         help="parity compares a seeded sample of at most N texts (default 200)")
    command.add_argument("--out", required=True, help="output folder (new, empty, or this model's earlier export)")
    command.add_argument("--overwrite", action="store_true", help="replace an export of a different model in --out")
    add_renamed(command, "--backend", "--runtime onnxruntime|openvino", dest="backend")
    add_renamed(command, "--int8", "--precision int8", dest="int8", nargs=0, const=True)
    add_renamed(command, "--calibration", "--texts", dest="texts")
    return command


def run(args: argparse.Namespace) -> int:
    """Run ``hf-ose export``; errors propagate to the command line's handler."""
    from ..data import load_texts
    from ..export.backend import ExportError
    from ..export.core import export

    backend, precision = _backend_and_precision(args)
    texts = None
    if args.texts is not None:
        try:
            texts = load_texts(data_source(args.texts), column=args.text_column)
        except ValueError as error:
            raise ExportError(f"--texts {args.texts}: {error}") from error
    report = export(args.model, args.out, backend=backend, precision=precision, calibration=texts,
                    overwrite=args.overwrite, calibration_size=args.calibration_size, parity_size=args.parity_size)
    samples = report.samples
    calibrated = (f" Calibrated on {len(samples.calibration)} of {samples.given} texts (seed {samples.seed})."
                  if samples and report.calibrated else "")
    kind = report.parity.kind
    head = report.head if kind in report.head else f"{report.head}, {kind}"
    print(f"Exported {args.model} ({head}) with {report.backend} {report.precision} to {report.out_dir}: "
          f"{', '.join(path.name for path in report.files)}.{calibrated} Checked {report.parity.summary()}.")
    return 0


def _backend_and_precision(args: argparse.Namespace) -> tuple[str, str]:
    """The export backend and precision that ``--runtime`` and ``--precision`` (or the deprecated ``--backend``
    and ``--int8``) name."""
    from ..export.backend import ExportError
    from ..latency.settings import RUNTIME_SPECS

    if (args.runtime is None) == (args.backend is None):
        raise ExportError("Name the runtime the artifact is for once: --runtime onnxruntime or openvino (--backend "
                          "is its old spelling).")
    if args.int8 and args.precision is not None:
        raise ExportError("--int8 and --precision both set the precision: pass --precision only.")
    precision = "int8" if args.int8 else args.precision
    spec = RUNTIME_SPECS.get(args.runtime)
    if spec is None:  # --backend, a plugin's export backend, or an unknown name export() refuses
        return args.backend or args.runtime, precision or "fp32"
    if spec.precision != "fp32" and precision not in (None, spec.precision, f"{spec.precision}-static"):
        raise ExportError(f"--runtime {args.runtime} is {spec.precision}, --precision {precision} is not: drop one.")
    return spec.backend, precision or spec.precision
