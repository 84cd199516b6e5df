"""OpenVINO latency runtimes: ``openvino`` (fp32) and ``openvino-int8`` (NNCF int8).

The candidate is exported by :class:`~hf_ose.integrations.openvino_backend.OpenVinoBackend` (``convert_model``
through a wrapper; int8: NNCF post-training quantisation calibrated on a few batches of synthetic text), the
artifact ``hf_ose.export`` writes, and compiled for the CPU with ``settings.threads`` inference threads, one
stream, the latency hint and the f32 precision hint (so int8 runs int8 kernels and the rest fp32, not bf16 as
CPUs with AVX-512 BF16 or AMX would by default).
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np

from hf_ose.integrations.exported_runtime import ExportedRuntime, RuntimeForward
from hf_ose.integrations.openvino_backend import COMPILE_CONFIG, FILE_STEMS, OpenVinoBackend


class OpenVinoFp32(ExportedRuntime):
    """The fp32 OpenVINO IR (``openvino_model.xml``), compiled for the CPU in f32."""

    name: ClassVar[str] = "openvino"
    install_hint: ClassVar[str] = OpenVinoBackend.install_hint
    packages: ClassVar[tuple[str, ...]] = ("openvino", "nncf")
    precision: ClassVar[str] = "fp32"

    def backend(self) -> OpenVinoBackend:
        return OpenVinoBackend()

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
    precision: ClassVar[str] = "int8"
