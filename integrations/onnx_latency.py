"""ONNX Runtime latency runtimes: ``onnxruntime`` (fused fp32) and ``onnxruntime-int8`` (fused, dynamic int8).

The candidate is exported by :class:`~hf_ose.integrations.onnx_backend.OnnxBackend` (TorchScript wrapper, ONNX
Runtime's transformer fusions, dynamic int8 per output channel), the artifact ``hf_ose.export`` writes, and run
on the CPU execution provider with ``settings.threads`` intra-op threads and one inter-op thread.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np

from hf_ose.integrations.exported_runtime import ExportedRuntime, RuntimeForward
from hf_ose.integrations.onnx_backend import FILES, OnnxBackend


class OnnxRuntimeFp32(ExportedRuntime):
    """The fused fp32 ONNX artifact (``model.onnx``) in ONNX Runtime."""

    name: ClassVar[str] = "onnxruntime"
    install_hint: ClassVar[str] = OnnxBackend.install_hint
    packages: ClassVar[tuple[str, ...]] = ("onnx", "onnxruntime")
    precision: ClassVar[str] = "fp32"

    def backend(self) -> OnnxBackend:
        return OnnxBackend()

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
    precision: ClassVar[str] = "int8"
