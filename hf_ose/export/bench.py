"""``hf-ose bench``'s entries: PyTorch model folders and exported ONNX Runtime and OpenVINO artifacts, opened on
the same fixed inputs and timed side by side by :func:`hf_ose.latency.timing.measure`."""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from ..latency.timing import BenchError, BenchResult, BenchTarget, bound_model, check_bench_settings, measure
from .backend import KNOWN_EXTERNAL, BackendNotAvailableError, ExportBackend, get_export_backend

#: Artifact file name -> (export backend, precision), in Optimum's and Optimum-Intel's layouts.
ARTIFACT_FILES: dict[str, tuple[str, str]] = {
    "model.onnx": ("onnx", "fp32"),
    "model_quantized.onnx": ("onnx", "int8"),
    "model_static_quantized.onnx": ("onnx", "int8-static"),
    "openvino_model.xml": ("openvino", "fp32"),
    "openvino_model_qint8_quantized.xml": ("openvino", "int8"),
}
#: Files that make a folder a PyTorch model (with config.json).
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                "pytorch_model.bin.index.json")
#: Token ids are drawn below this when a folder's config.json names no vocabulary size.
_DEFAULT_VOCAB = 1000


def bench(paths: Sequence[str | Path], *, threads: int | None = None, batch_size: int = 1, seq_len: int = 128,
          warmup: int = 2, rounds: int = 5, repeats: int = 5) -> BenchResult:
    """Time every model and artifact in ``paths`` side by side (see :func:`measure`).

    Each path is a PyTorch model folder (config.json and weights), an artifact folder written by
    :func:`hf_ose.export.export` (every artifact in it is an entry: ONNX ``model.onnx`` / ``model_quantized.onnx``
    / ``model_static_quantized.onnx``, OpenVINO ``openvino_model.xml`` / ``openvino_model_qint8_quantized.xml``),
    or one such artifact file. ``threads`` (default: PyTorch's current count) applies to every runtime.
    """
    if not paths:
        raise BenchError("Nothing to benchmark: pass at least one model or artifact folder.")
    check_bench_settings(batch_size=batch_size, seq_len=seq_len, warmup=warmup, rounds=rounds, repeats=repeats,
                         **({"threads": threads} if threads is not None else {}))
    threads = threads or torch.get_num_threads()
    targets = [target for path in paths for target in open_targets(path, threads=threads, batch_size=batch_size,
                                                                     seq_len=seq_len)]
    return measure(targets, threads=threads, batch_size=batch_size, seq_len=seq_len, warmup=warmup,
                   rounds=rounds, repeats=repeats)


def open_targets(path: str | Path, *, threads: int, batch_size: int = 1, seq_len: int = 128) -> list[BenchTarget]:
    """The entries ``path`` holds (a PyTorch model and/or every artifact in it), each opened with ``threads``
    threads and bound to fixed inputs of ``batch_size`` x ``seq_len`` tokens."""
    path = Path(path)
    if path.is_file() and path.name in ARTIFACT_FILES:
        folder, artifacts = path.parent, [path.name]
    elif path.is_dir():
        folder, artifacts = path, [name for name in ARTIFACT_FILES if (path / name).is_file()]
    else:
        problem = "is not an artifact file bench knows" if path.exists() else "does not exist"
        raise BenchError(f"{path} {problem}. {_WHAT}")
    is_model = (folder / "config.json").is_file() and any((folder / name).is_file() for name in WEIGHT_FILES)
    if path.is_dir() and not is_model and not artifacts:
        raise BenchError(f"{path} holds neither a PyTorch model nor an exported artifact. {_WHAT}")
    inputs = fixed_inputs(_vocab_size(folder), batch_size, seq_len)
    targets = [_pytorch_target(folder, inputs)] if is_model and path.is_dir() else []
    for name in artifacts:
        backend_name, precision = ARTIFACT_FILES[name]
        run = _backend(backend_name, folder / name).session(folder, precision, threads=threads)
        targets.append(BenchTarget(f"{folder.name} {backend_name} {precision}", backend_name, precision,
                                   _bound(run, inputs), str(folder / name)))
    return targets


def fixed_inputs(vocab_size: int, batch_size: int, seq_len: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Random token ids below ``vocab_size`` (seeded), an all-ones attention mask and zero token types, int64."""
    ids = np.random.default_rng(seed).integers(0, vocab_size, (batch_size, seq_len), dtype=np.int64)
    return {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)}


_WHAT = ("Pass a PyTorch model folder (config.json and weights) or a folder written by hf-ose export (model.onnx, "
         "model_quantized.onnx, model_static_quantized.onnx, openvino_model.xml, openvino_model_qint8_quantized.xml).")


def _vocab_size(folder: Path) -> int:
    try:
        return int(json.loads((folder / "config.json").read_text()).get("vocab_size") or _DEFAULT_VOCAB)
    except (OSError, ValueError, TypeError):
        return _DEFAULT_VOCAB


def _backend(name: str, artifact: Path) -> ExportBackend:
    try:
        return get_export_backend(name)
    except BackendNotAvailableError as error:
        what, install = KNOWN_EXTERNAL.get(name, (name, "install its packages"))
        raise BackendNotAvailableError(
            f"{artifact} is a {what} artifact, and {what} is not installed: {install}, or leave it out."
        ) from error


def _pytorch_target(folder: Path, inputs: dict[str, np.ndarray]) -> BenchTarget:
    from ..parent import load_parent_model

    model = load_parent_model(folder).eval()
    accepted = inspect.signature(model.forward).parameters
    tensors = {name: torch.from_numpy(array) for name, array in inputs.items() if name in accepted}
    return BenchTarget(f"{folder.name} pytorch fp32", "pytorch", "fp32", bound_model(model, tensors), str(folder))


def _bound(run: Callable[[dict[str, np.ndarray]], object], inputs: dict[str, np.ndarray]) -> Callable[[], object]:
    return lambda: run(inputs)
