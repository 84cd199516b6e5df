"""Latency runtimes that time a candidate as it ships: exported by an export backend, then run by its runtime:
ONNX Runtime (``onnxruntime``, ``onnxruntime-int8``) and OpenVINO (``openvino``, ``openvino-int8``), each declared
(label, export backend, precision, install hint) in :data:`hf_ose.latency.settings.RUNTIME_SPECS`.

Each session builds the candidate's random-weight base model, exports it into a temporary folder through the
same backend code :func:`hf_ose.export.export` uses (so the timed graph is the deployed one: fusions and int8
included), opens it with ``settings.threads`` threads, and yields one forward pass on fixed inputs of
``settings``' shape; the folder is removed on exit. A search times each sampled candidate in several rounds,
each opening a fresh session, so the exported files of recent candidates are kept in memory
(:class:`ArtifactCache`) and a round re-exports nothing: the export is deterministic for a config, only the
session is rebuilt.

No tokenizer exists for a random-weight candidate: :func:`synthetic_tokenizer` is a word-level tokenizer over
the config's vocabulary (``"t0"``, ``"t1"``, ...), which the backends call like any other; random token ids
time the same as real text.

ONNX Runtime runs the artifact :class:`~hf_ose.integrations.onnx_backend.OnnxBackend` writes (TorchScript
wrapper, ONNX Runtime's transformer fusions, dynamic int8 per output channel) on the CPU execution provider with
``settings.threads`` intra-op threads and one inter-op thread. OpenVINO compiles the IR
:class:`~hf_ose.integrations.openvino_backend.OpenVinoBackend` writes (int8: NNCF post-training quantisation
calibrated on synthetic text) for the CPU with ``settings.threads`` inference threads, one stream, the latency
hint and the f32 precision hint (so int8 runs int8 kernels and the rest fp32, not bf16 as CPUs with AVX-512 BF16
or AMX would by default).
"""

from __future__ import annotations

import gc
import hashlib
import importlib.metadata
import importlib.util
import tempfile
from abc import abstractmethod
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import numpy as np
import torch

from hf_ose.export import ExportBackend, get_export_backend
from hf_ose.integrations.onnx_backend import FILES
from hf_ose.integrations.openvino_backend import COMPILE_CONFIG, FILE_STEMS
from hf_ose.latency.settings import RUNTIME_SPECS, LatencyRuntime, LatencySettings, RuntimeSpec
from hf_ose.latency.timing import random_model
from hf_ose.torch_context import torch_threads

if TYPE_CHECKING:
    from transformers import PretrainedConfig, PreTrainedTokenizerFast

#: Synthetic calibration texts per export and their longest length in tokens (OpenVINO int8 calibrates on them,
#: dynamic int8 ignores them). The quantised graph, and so its speed, does not depend on them; NNCF's cost does
#: (16 texts of up to 128 tokens took minutes on RoBERTa-large), so they are few and short.
CALIBRATION_TEXTS = 4
CALIBRATION_LENGTH = 16
#: Bytes of exported files kept in memory per runtime, most recently used first.
CACHE_BYTES = 4 << 30


@dataclass
class RuntimeForward:
    """One forward pass of an opened artifact (call it: the main output as numpy), the folder it was opened
    from and the intra-op thread count the runtime reports it uses."""

    run: Callable[[], object]
    folder: Path
    threads: int

    def __call__(self) -> object:
        return self.run()


class ArtifactCache:
    """Exported files (name -> bytes) by key, at most ``max_bytes`` in all; the least recently used go first."""

    def __init__(self, max_bytes: int = CACHE_BYTES) -> None:
        self.max_bytes = max_bytes
        self._files: OrderedDict[str, dict[str, bytes]] = OrderedDict()

    @property
    def size(self) -> int:
        return sum(len(data) for files in self._files.values() for data in files.values())

    def get(self, key: str) -> dict[str, bytes] | None:
        files = self._files.get(key)
        if files is not None:
            self._files.move_to_end(key)
        return files

    def put(self, key: str, files: dict[str, bytes]) -> None:
        """Keep ``files`` unless they alone exceed the cap, dropping the least recently used to make room."""
        if sum(map(len, files.values())) > self.max_bytes:
            return
        self._files[key] = files
        self._files.move_to_end(key)
        while self.size > self.max_bytes:
            self._files.popitem(last=False)

    def clear(self) -> None:
        self._files.clear()


class ExportedRuntime(LatencyRuntime):
    """Times the artifact :meth:`backend` exports at :attr:`precision`, both as :data:`RUNTIME_SPECS` declares
    the runtime ``name``. Subclasses set ``name`` and :attr:`packages` and implement :meth:`open`."""

    #: Modules that must be importable for :meth:`available`.
    packages: ClassVar[tuple[str, ...]]

    def __init__(self) -> None:
        self.cache = ArtifactCache()

    @property
    def spec(self) -> RuntimeSpec:
        return RUNTIME_SPECS[self.name]

    @property
    def precision(self) -> str:
        """The export precision (``"fp32"`` or ``"int8"``)."""
        return self.spec.precision

    @property
    def install_hint(self) -> str:  # type: ignore[override]
        return self.spec.install_hint

    def available(self) -> bool:
        return all(importlib.util.find_spec(package) is not None for package in self.packages)

    def versions(self) -> dict[str, str]:
        return {package: importlib.metadata.version(package) for package in self.packages}

    def backend(self) -> ExportBackend:
        """The export backend that writes this runtime's artifact."""
        return get_export_backend(self.spec.backend)

    @abstractmethod
    def open(self, folder: Path, threads: int, inputs: dict[str, np.ndarray]) -> RuntimeForward:
        """Open the artifact in ``folder`` with ``threads`` intra-op threads; the forward feeds ``inputs``."""

    @contextmanager
    def session(self, config: PretrainedConfig, settings: LatencySettings) -> Iterator[RuntimeForward]:
        settings = settings.resolved()
        with tempfile.TemporaryDirectory(prefix=f"hf-ose-{self.name}-") as folder:
            self.materialise(config, settings, Path(folder))
            forward = self.open(Path(folder), settings.threads, fixed_inputs(config, settings))
            try:
                yield forward
            finally:
                del forward
                gc.collect()

    def materialise(self, config: PretrainedConfig, settings: LatencySettings, folder: Path) -> list[Path]:
        """Write ``config``'s artifact into ``folder``: from the cache, or exported from a random-weight model."""
        key = _cache_key(config, settings, self.precision)
        cached = self.cache.get(key)
        if cached is not None:
            for name, data in cached.items():
                (folder / name).write_bytes(data)
            return [folder / name for name in cached]
        shape = (settings.batch_size, settings.seq_len)
        model = random_model(config, max_bytes=settings.memory_budget_bytes(), input_shape=shape)
        try:
            with torch_threads(settings.threads):
                files = self.backend().export(model, synthetic_tokenizer(config), folder, precision=self.precision,
                                              calibration=calibration_texts(config, settings))
        finally:
            del model
            gc.collect()
        self.cache.put(key, {path.name: path.read_bytes() for path in files})
        return files


class OnnxRuntimeFp32(ExportedRuntime):
    """The fused fp32 ONNX artifact (``model.onnx``) in ONNX Runtime."""

    name: ClassVar[str] = "onnxruntime"
    packages: ClassVar[tuple[str, ...]] = ("onnx", "onnxruntime")

    def open(self, folder: Path, threads: int, inputs: dict[str, np.ndarray]) -> RuntimeForward:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        session = onnxruntime.InferenceSession(str(folder / FILES[self.precision]), options,
                                               providers=["CPUExecutionProvider"])
        feed = {node.name: inputs[node.name] for node in session.get_inputs()}
        return RuntimeForward(lambda: session.run(None, feed)[0], folder,
                              session.get_session_options().intra_op_num_threads)


class OnnxRuntimeInt8(OnnxRuntimeFp32):
    """The fused, dynamically quantised int8 ONNX artifact (``model_quantized.onnx``) in ONNX Runtime."""

    name: ClassVar[str] = "onnxruntime-int8"


class OpenVinoFp32(ExportedRuntime):
    """The fp32 OpenVINO IR (``openvino_model.xml``), compiled for the CPU in f32."""

    name: ClassVar[str] = "openvino"
    packages: ClassVar[tuple[str, ...]] = ("openvino", "nncf")

    def open(self, folder: Path, threads: int, inputs: dict[str, np.ndarray]) -> RuntimeForward:
        import openvino

        config = {**COMPILE_CONFIG[self.precision], "INFERENCE_NUM_THREADS": threads, "NUM_STREAMS": 1,
                  "PERFORMANCE_HINT": "LATENCY"}
        compiled = openvino.Core().compile_model(str(folder / f"{FILE_STEMS[self.precision]}.xml"), "CPU", config)
        request = compiled.create_infer_request()
        feed = {port.get_any_name(): inputs[port.get_any_name()] for port in compiled.inputs}
        threads_used = int(compiled.get_property("INFERENCE_NUM_THREADS"))
        return RuntimeForward(lambda: request.infer(feed)[0], folder, threads_used)


class OpenVinoInt8(OpenVinoFp32):
    """The NNCF int8 OpenVINO IR (``openvino_model_qint8_quantized.xml``), compiled for the CPU (f32 hint)."""

    name: ClassVar[str] = "openvino-int8"


def synthetic_tokenizer(config: PretrainedConfig) -> PreTrainedTokenizerFast:
    """A word-level tokenizer whose words ``"t<id>"`` are ``config``'s token ids (padding with its pad id, 0
    where it has none), producing ``token_type_ids`` when the model has more than one token type."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocabulary = {f"t{i}": i for i in range(config.vocab_size)}
    words = Tokenizer(models.WordLevel(vocabulary, unk_token="t0"))
    words.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    pad = getattr(config, "pad_token_id", None) or 0
    names = ["input_ids", "attention_mask"]
    if (getattr(config, "type_vocab_size", 0) or 0) > 1:
        names.insert(1, "token_type_ids")
    return PreTrainedTokenizerFast(tokenizer_object=words, pad_token=f"t{pad}", unk_token="t0",
                                   model_input_names=names)


def calibration_texts(config: PretrainedConfig, settings: LatencySettings) -> list[str]:
    """:data:`CALIBRATION_TEXTS` texts of random token ids (words of :func:`synthetic_tokenizer`), of lengths
    from half of :data:`CALIBRATION_LENGTH` (or the sequence length, if shorter) to all of it; fixed for a config
    and settings."""
    rng = np.random.default_rng(0)
    longest = min(settings.seq_len, CALIBRATION_LENGTH)
    lengths = rng.integers(max(1, longest // 2), longest + 1, CALIBRATION_TEXTS)
    return [" ".join(f"t{i}" for i in rng.integers(0, config.vocab_size, n)) for n in lengths]


def fixed_inputs(config: PretrainedConfig, settings: LatencySettings) -> dict[str, np.ndarray]:
    """The timed inputs, as PyTorch's runtime feeds them: random token ids (seed 0), an all-ones attention mask,
    zero token types; int64, ``settings.batch_size`` x ``settings.seq_len``."""
    shape = (settings.batch_size, settings.seq_len)
    ids = torch.randint(0, config.vocab_size, shape, generator=torch.Generator().manual_seed(0)).numpy()
    return {"input_ids": ids, "attention_mask": np.ones(shape, dtype=np.int64),
            "token_type_ids": np.zeros(shape, dtype=np.int64)}


def _cache_key(config: PretrainedConfig, settings: LatencySettings, precision: str) -> str:
    """The artifact's identity: the config, the precision and the shape its calibration used."""
    text = f"{config.to_json_string(use_diff=False)}|{precision}|{settings.batch_size}x{settings.seq_len}"
    return hashlib.sha256(text.encode()).hexdigest()
