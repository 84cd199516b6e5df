"""ONNX Runtime export backend: ``model.onnx`` (fp32, fused) and ``model_quantized.onnx`` (dynamic int8).

The TorchScript exporter (``dynamo=False``) through a wrapper with an explicit forward is used because ONNX
Runtime's transformer optimizer fuses Attention only on its graphs (it does not match the dynamo graph's mask
path); eager attention is used while tracing, and the mask format is ``AttentionMask``, which is right for left
padding too.
"""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from hf_ose.export.backend import ExportBackend, Session
from hf_ose.export.core import input_names, task_of
from hf_ose.export.errors import ExportError

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

#: File names in Optimum's ONNX layout, per precision.
FILES = {"fp32": "model.onnx", "int8": "model_quantized.onnx"}
#: Model types ONNX Runtime's optimizer has a BERT-like fusion for.
_OPTIMIZER_TYPES = {"bert": "bert", "roberta": "bert", "xlm-roberta": "bert", "electra": "bert"}
OPSET = 17


class _Forward(torch.nn.Module):
    """The model with a positional forward over its named inputs, returning the main output only."""

    def __init__(self, model: PreTrainedModel, names: list[str]) -> None:
        super().__init__()
        self.model, self.names = model, names

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return self.model(**dict(zip(self.names, inputs)))[0]


class OnnxBackend(ExportBackend):
    """ONNX Runtime artifacts in Optimum's layout (what ``ORTModel*`` and plain ``onnxruntime`` load)."""

    name = "onnx"
    install_hint = "pip install 'hf-ose[onnx]'"
    precisions = ("fp32", "int8")

    def available(self) -> bool:
        return all(importlib.util.find_spec(package) for package in ("onnx", "onnxruntime"))

    def export(self, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, out_dir: Path, *,
               precision: str, calibration: list[str] | None) -> list[Path]:
        if precision == "fp32":
            return [self._export_fp32(model, tokenizer, out_dir / FILES["fp32"])]
        graph = out_dir / f".{FILES['int8']}.fp32.onnx"  # quantised from a fresh graph, never a stale model.onnx
        try:
            return [_quantize(self._export_fp32(model, tokenizer, graph), out_dir / FILES["int8"])]
        finally:
            graph.unlink(missing_ok=True)

    def session(self, out_dir: Path, precision: str) -> Session:
        import onnxruntime

        path = out_dir / FILES[precision]
        if not path.is_file():
            raise ExportError(f"{out_dir} holds no {path.name}: export it with precision={precision!r} first.")
        inference = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        names = [node.name for node in inference.get_inputs()]

        def run(inputs: dict[str, np.ndarray]) -> np.ndarray:
            return inference.run(None, {name: inputs[name] for name in names})[0]

        return run

    def _export_fp32(self, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, path: Path) -> Path:
        names = input_names(model, tokenizer)
        output = "logits" if task_of(model) == "text-classification" else "last_hidden_state"
        example = tokenizer(["an example", "a somewhat longer example sentence"], padding=True, return_tensors="pt")
        axes = {name: {0: "batch_size", 1: "sequence_length"} for name in names}
        axes[output] = {0: "batch_size"} if output == "logits" else {0: "batch_size", 1: "sequence_length"}
        raw = path.with_name(f".{path.name}.raw.onnx")
        previous = model.config._attn_implementation
        try:
            model.set_attn_implementation("eager")  # ORT's attention fusion matches the eager pattern
            with torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)  # the TorchScript path is chosen on purpose
                warnings.simplefilter("ignore", torch.jit.TracerWarning)  # encoder masks: shapes match by design
                warnings.filterwarnings("ignore", message="Exporting aten::index")
                torch.onnx.export(_Forward(model, names).eval(), tuple(example[name] for name in names), str(raw),
                                  input_names=names, output_names=[output], dynamic_axes=axes,
                                  opset_version=OPSET, dynamo=False)
            _optimize(raw, path, model)
        finally:
            model.set_attn_implementation(previous)
            model.eval()
            raw.unlink(missing_ok=True)
        return path


def _optimize(source: Path, target: Path, model: PreTrainedModel) -> None:
    """ORT's transformer fusions with the model's real head count and hidden size (BERT-like models); other
    models are saved as exported."""
    from onnxruntime.transformers.fusion_options import AttentionMaskFormat, FusionOptions
    from onnxruntime.transformers.optimizer import optimize_model

    config = model.config
    kind = _OPTIMIZER_TYPES.get(config.model_type)
    if kind is None:
        source.replace(target)
        return
    options = FusionOptions(kind)
    options.attention_mask_format = AttentionMaskFormat.AttentionMask  # right for left padding as well
    optimized = optimize_model(str(source), model_type=kind, num_heads=config.num_attention_heads,
                               hidden_size=config.hidden_size, optimization_options=options, opt_level=0)
    optimized.save_model_to_file(str(target))


def _quantize(source: Path, target: Path) -> Path:
    """Dynamic int8, per output channel (token cosine to PyTorch on all-MiniLM-L6-v2: min 0.95, against 0.85
    per tensor); float as the default tensor type, which fused graphs need (quantize_dynamic fails on them otherwise)."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8, per_channel=True,
                     extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
    return target
