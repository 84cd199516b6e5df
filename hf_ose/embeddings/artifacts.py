"""int8 artifacts of a sentence-transformers model, exported by :func:`hf_ose.export.export` (parity-checked) and
laid out inside the model folder under the names sentence-transformers loads:

- ``onnx/model_qint8_<variant>.onnx``, as ``export_dynamic_quantized_onnx_model`` names its per-channel dynamic
  int8 file for an ``arm64``/``avx2``/``avx512``/``avx512_vnni`` configuration (:func:`onnx_variant` picks this
  CPU's); load it with ``SentenceTransformer(folder, backend="onnx", model_kwargs={"file_name": ...})``;
- ``openvino/openvino_model_qint8_quantized.xml`` / ``.bin``, as ``export_static_quantized_openvino_model``
  names its NNCF int8 model; ``backend="openvino"`` with that ``file_name``.

sentence-transformers' backends load these files through Optimum (``optimum.onnxruntime``, ``optimum.intel``);
:func:`artifact_encoder` reads them with ONNX Runtime and OpenVINO directly, through the folder's own pooling, so
they can be checked and used where Optimum does not install."""

from __future__ import annotations

import os
import platform
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..export import ParityResult, export, get_export_backend
from ..latency.settings import _cpuinfo
from .evaluation import Agreement, agreement
from .pipeline import EmbeddingError, HiddenStates, Pooling, SentenceEncoder, check_texts

ONNX_DIR, OPENVINO_DIR = "onnx", "openvino"
#: sentence-transformers' dynamic int8 ONNX configurations, most capable last.
ONNX_VARIANTS = ("arm64", "avx2", "avx512", "avx512_vnni")
OPENVINO_INT8 = "openvino_model_qint8_quantized"
BACKENDS = ("onnx", "openvino")
#: Texts compared sentence by sentence with the PyTorch model after export.
AGREEMENT_TEXTS = 64


@dataclass(frozen=True)
class EmbeddingArtifact:
    """One int8 artifact laid out in a sentence-transformers folder, with its token-level parity (from
    :func:`hf_ose.export.export`) and the cosine of its sentence embeddings with the PyTorch model's."""

    folder: Path
    backend: str
    file_name: str  #: relative to ``folder``: what ``model_kwargs={"file_name": ...}`` takes
    parity: ParityResult
    agreement: Agreement

    def load_call(self) -> str:
        """The sentence-transformers call that loads this artifact."""
        return (f"SentenceTransformer({str(self.folder)!r}, backend={self.backend!r}, "
                f"model_kwargs={{'file_name': {self.file_name!r}}})")


def onnx_variant() -> str:
    """The sentence-transformers ONNX int8 configuration named after this CPU: ``arm64`` on ARM, else the widest
    of ``avx512_vnni``, ``avx512`` and ``avx2`` its flags show."""
    if platform.machine().lower() in ("arm64", "aarch64"):
        return "arm64"
    _, flags = _cpuinfo()
    if "avx512_vnni" in flags:
        return "avx512_vnni"
    return "avx512" if "avx512f" in flags else "avx2"


def onnx_int8_file(variant: str) -> str:
    """``onnx/model_qint8_<variant>.onnx``."""
    if variant not in ONNX_VARIANTS:
        raise EmbeddingError(f"ONNX variant {variant!r} is not one sentence-transformers names; use one of "
                             f"{list(ONNX_VARIANTS)}.")
    return f"{ONNX_DIR}/model_qint8_{variant}.onnx"


def export_int8(model_dir: str | Path, calibration: Sequence[str], *, backends: Sequence[str] = BACKENDS,
                variant: str | None = None, overwrite: bool = False) -> list[EmbeddingArtifact]:
    """Export the sentence-transformers model in ``model_dir`` to int8 with each of ``backends`` (calibrated and
    parity-checked on ``calibration``, real sentences like those it will embed) and lay the artifacts out in
    ``model_dir`` under sentence-transformers' names (``variant``: the ONNX file's configuration name, default
    :func:`onnx_variant`). An artifact already there is replaced only with ``overwrite``; one that fails parity
    is not kept and leaves the folder as it was."""
    model_dir = Path(model_dir)
    pooling = Pooling.from_folder(model_dir)
    calibration = check_texts(calibration)
    unknown = [name for name in backends if name not in BACKENDS]
    if unknown or not backends:
        raise EmbeddingError(f"backends={list(backends)}: choose from {list(BACKENDS)}.")
    targets = {name: _target_files(name, variant or onnx_variant()) for name in backends}
    existing = [str(path) for files in targets.values() for _, path in files if (model_dir / path).exists()]
    if existing and not overwrite:
        raise EmbeddingError(f"{model_dir} already holds {existing}: pass overwrite=True to replace them, or export "
                             "a copy of the folder.")
    reference = SentenceEncoder.from_pretrained(model_dir)
    sample = calibration[:AGREEMENT_TEXTS]
    expected = reference.encode(sample)
    artifacts = []
    for name, files in targets.items():
        parity = _export_into(model_dir, name, calibration, files)
        file_name = str(files[-1][1])
        found = artifact_encoder(model_dir, name, file_name, pooling=pooling).encode(sample)
        artifacts.append(EmbeddingArtifact(model_dir, name, file_name, parity, agreement(found, expected)))
    return artifacts


def artifact_encoder(model_dir: str | Path, backend: str, file_name: str | None = None, *,
                     pooling: Pooling | None = None, threads: int | None = None) -> SentenceEncoder:
    """A :class:`SentenceEncoder` running the int8 artifact ``file_name`` (default: the folder's one int8 file
    of ``backend``) of the sentence-transformers folder ``model_dir`` with ONNX Runtime or OpenVINO directly,
    through the folder's tokenizer and pooling; ``threads`` intra-op threads (``None``: the runtime's default)."""
    from transformers import AutoTokenizer

    model_dir = Path(model_dir)
    path = model_dir / (file_name or _only_int8_file(model_dir, backend))
    if not path.is_file():
        raise EmbeddingError(f"{model_dir} holds no {path.relative_to(model_dir)}: export it with "
                             f"hf_ose.embeddings.export_int8({str(model_dir)!r}, texts, backends=[{backend!r}]).")
    if backend == "onnx":
        run, names = _onnx_session(path, threads)
    elif backend == "openvino":
        if path.name != f"{OPENVINO_INT8}.xml":
            raise EmbeddingError(f"The OpenVINO int8 artifact is {OPENVINO_DIR}/{OPENVINO_INT8}.xml, not {path.name}.")
        run = get_export_backend("openvino").session(path.parent, "int8", threads=threads)
        names = ("input_ids", "attention_mask", "token_type_ids")
    else:
        raise EmbeddingError(f"backend={backend!r}: choose from {list(BACKENDS)}.")
    return SentenceEncoder(run, AutoTokenizer.from_pretrained(model_dir), pooling or Pooling.from_folder(model_dir),
                           names)


def _target_files(backend: str, variant: str) -> list[tuple[str, Path]]:
    """(file the export writes, where it goes relative to the folder) per file, the graph last."""
    if backend == "onnx":
        return [("model_quantized.onnx", Path(onnx_int8_file(variant)))]
    return [(f"{OPENVINO_INT8}.{suffix}", Path(OPENVINO_DIR, f"{OPENVINO_INT8}.{suffix}")) for suffix in ("bin", "xml")]


def _export_into(model_dir: Path, backend: str, calibration: list[str], files: list[tuple[str, Path]]) -> ParityResult:
    """Export in a scratch folder inside ``model_dir``, then move the artifact's files to their places (the
    weights before the graph that names them); the scratch folder goes either way."""
    scratch = Path(tempfile.mkdtemp(dir=model_dir, prefix=".export-"))
    try:
        report = export(model_dir, scratch, backend=backend, precision="int8", calibration=calibration)
        for written, target in files:
            (model_dir / target).parent.mkdir(exist_ok=True)
            os.replace(scratch / written, model_dir / target)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return report.parity


def _only_int8_file(model_dir: Path, backend: str) -> str:
    if backend == "openvino":
        return f"{OPENVINO_DIR}/{OPENVINO_INT8}.xml"
    found = sorted(str(path.relative_to(model_dir)) for path in (model_dir / ONNX_DIR).glob("model_qint8_*.onnx"))
    if len(found) != 1:
        raise EmbeddingError(f"{model_dir / ONNX_DIR} holds {len(found)} int8 ONNX files {found}: pass file_name= "
                             "to choose one, or export one with hf_ose.embeddings.export_int8.")
    return found[0]


def _onnx_session(path: Path, threads: int | None) -> tuple[HiddenStates, tuple[str, ...]]:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    if threads:
        options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    names = tuple(node.name for node in session.get_inputs())

    def run(inputs: dict[str, np.ndarray]) -> np.ndarray:
        return session.run(None, {name: inputs[name] for name in names})[0]

    return run, names
