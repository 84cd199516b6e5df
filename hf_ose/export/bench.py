"""Models and exported artifacts timed side by side: PyTorch model folders, ONNX Runtime and OpenVINO artifacts,
on the same fixed inputs, in alternating rounds, with the machine and settings they ran under.

Load on a shared machine comes in bursts; timing every entry once per round, for several rounds (each round
starting one entry later), spreads a burst over all of them instead of inflating one. Each entry's figure is the
median of all its timed runs, with their spread (quartiles, minimum and maximum).
"""

from __future__ import annotations

import inspect
import json
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path

import numpy as np
import torch

from ..errors import HfOseError
from ..hardware import cpu_description
from ..io import atomic_write
from ..torch_context import torch_threads
from .backend import KNOWN_EXTERNAL, ExportBackend, get_export_backend
from .errors import BackendNotAvailableError

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
#: Packages whose versions are recorded with a result.
_PACKAGES = ("torch", "transformers", "onnxruntime", "openvino", "nncf")
#: Token ids are drawn below this when a folder's config.json names no vocabulary size.
_DEFAULT_VOCAB = 1000


class BenchError(HfOseError, ValueError):
    """A path to benchmark is neither a model folder nor an artifact folder, or the settings are invalid."""


@dataclass(frozen=True)
class BenchTarget:
    """One entry to time: its label, what runs it, and one forward pass on fixed inputs."""

    label: str
    runtime: str  #: "pytorch", an export backend name ("onnx", "openvino"), or a recipe's own name
    precision: str
    run: Callable[[], object]
    path: str | None = None


@dataclass(frozen=True)
class BenchRow:
    """One entry's timed runs (milliseconds) and their summary; ``speedup`` is the first entry's median over
    this one's (1.0 for the first; above 1 is faster)."""

    label: str
    runtime: str
    precision: str
    path: str | None
    times_ms: tuple[float, ...]
    speedup: float

    @property
    def median_ms(self) -> float:
        return statistics.median(self.times_ms)

    @property
    def quartiles_ms(self) -> tuple[float, float]:
        """The 25th and 75th percentiles of the timed runs (the interquartile range)."""
        low, high = np.percentile(self.times_ms, [25, 75])
        return float(low), float(high)

    def to_dict(self) -> dict[str, object]:
        low, high = self.quartiles_ms
        return {**asdict(self), "times_ms": list(self.times_ms), "median_ms": self.median_ms, "q1_ms": low,
                "q3_ms": high, "min_ms": min(self.times_ms), "max_ms": max(self.times_ms)}


@dataclass(frozen=True)
class BenchResult:
    """Every entry measured in one run, and what it ran under (CPU model and ISA flags, threads, shapes)."""

    rows: tuple[BenchRow, ...]
    threads: int
    batch_size: int
    seq_len: int
    warmup: int
    rounds: int
    repeats: int
    cpu: str = field(default_factory=cpu_description)
    versions: dict[str, str] = field(default_factory=lambda: _versions())

    def row(self, label: str) -> BenchRow:
        """The row labelled ``label``."""
        for row in self.rows:
            if row.label == label:
                return row
        raise KeyError(f"No row labelled {label!r}; the labels are {[row.label for row in self.rows]}.")

    def to_dict(self) -> dict[str, object]:
        return {"cpu": self.cpu, "threads": self.threads, "batch_size": self.batch_size, "seq_len": self.seq_len,
                "warmup": self.warmup, "rounds": self.rounds, "repeats": self.repeats, "versions": self.versions,
                "rows": [row.to_dict() for row in self.rows]}

    def to_json(self, path: str | Path) -> Path:
        """Write :meth:`to_dict` to ``path`` atomically."""
        path = Path(path)
        atomic_write(path, json.dumps(self.to_dict(), indent=2) + "\n")
        return path

    def table(self) -> str:
        """The rows as a text table: median, interquartile range, minimum, and speed-up against the first."""
        width = max(len("entry"), *(len(row.label) for row in self.rows))
        lines = [f"CPU: {self.cpu}",
                 f"threads {self.threads}, batch {self.batch_size}, sequence length {self.seq_len}; {self.warmup} "
                 f"warm-up, {self.rounds} alternating rounds x {self.repeats} runs per entry",
                 f"{'entry':<{width}}  {'median ms':>10}  {'IQR ms':>17}  {'min ms':>9}  {'vs first':>8}"]
        for row in self.rows:
            low, high = row.quartiles_ms
            lines.append(f"{row.label:<{width}}  {row.median_ms:>10.2f}  {f'{low:.2f}-{high:.2f}':>17}  "
                         f"{min(row.times_ms):>9.2f}  {row.speedup:>7.2f}x")
        return "\n".join(lines)


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
    _check_settings(batch_size=batch_size, seq_len=seq_len, warmup=warmup, rounds=rounds, repeats=repeats,
                    **({"threads": threads} if threads is not None else {}))
    threads = threads or torch.get_num_threads()
    targets = [target for path in paths for target in open_targets(path, threads=threads, batch_size=batch_size,
                                                                     seq_len=seq_len)]
    return measure(targets, threads=threads, batch_size=batch_size, seq_len=seq_len, warmup=warmup,
                   rounds=rounds, repeats=repeats)


def measure(targets: Sequence[BenchTarget], *, threads: int, batch_size: int, seq_len: int, warmup: int = 2,
            rounds: int = 5, repeats: int = 5) -> BenchResult:
    """Run each target ``warmup`` times untimed, then ``rounds`` rounds in which every target runs ``repeats``
    timed forward passes, round-robin (each round starts one target later). PyTorch runs ``threads`` intra-op
    threads; the targets' sessions must have been opened with the same count. ``batch_size`` and ``seq_len``
    are recorded: the targets' inputs must have that shape."""
    if not targets:
        raise BenchError("Nothing to benchmark: no targets.")
    _check_settings(batch_size=batch_size, seq_len=seq_len, warmup=warmup, rounds=rounds, repeats=repeats)
    times: list[list[float]] = [[] for _ in targets]
    with torch_threads(threads), torch.inference_mode():
        for target in targets:
            for _ in range(warmup):
                target.run()
        for start in range(rounds):
            for index in [(start + step) % len(targets) for step in range(len(targets))]:
                for _ in range(repeats):
                    began = time.perf_counter()
                    targets[index].run()
                    times[index].append((time.perf_counter() - began) * 1e3)
    first = statistics.median(times[0])
    rows = tuple(BenchRow(t.label, t.runtime, t.precision, t.path, tuple(ms), first / statistics.median(ms))
                 for t, ms in zip(targets, times))
    return BenchResult(rows, threads, batch_size, seq_len, warmup, rounds, repeats)


def measure_models(models: dict[str, torch.nn.Module], inputs: dict[str, torch.Tensor], *,
                   threads: int | None = None, warmup: int = 2, rounds: int = 5, repeats: int = 5) -> BenchResult:
    """Time in-memory PyTorch models side by side on the same ``inputs`` (see :func:`measure`); rows are labelled
    by the keys of ``models``, the first is the reference. ``threads`` defaults to torch's current count."""
    shape = next(iter(inputs.values())).shape
    if len(shape) != 2:
        raise BenchError(f"inputs must be batch x sequence tensors; the first has shape {tuple(shape)}.")
    targets = [BenchTarget(label, "pytorch", "fp32", _bound_model(model.eval(), inputs))
               for label, model in models.items()]
    return measure(targets, threads=torch.get_num_threads() if threads is None else threads, batch_size=shape[0], seq_len=shape[1],
                   warmup=warmup, rounds=rounds, repeats=repeats)


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


def _check_settings(**settings: int) -> None:
    for name, value in settings.items():
        if value < (0 if name == "warmup" else 1):
            raise BenchError(f"{name} must be at least {0 if name == 'warmup' else 1}, not {value}.")


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
    return BenchTarget(f"{folder.name} pytorch fp32", "pytorch", "fp32", _bound_model(model, tensors), str(folder))


def _bound(run: Callable[[dict[str, np.ndarray]], object], inputs: dict[str, np.ndarray]) -> Callable[[], object]:
    return lambda: run(inputs)


def _bound_model(model: torch.nn.Module, inputs: dict[str, torch.Tensor]) -> Callable[[], object]:
    return lambda: model(**inputs)


def _versions() -> dict[str, str]:
    found = {}
    for package in _PACKAGES:
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return found
