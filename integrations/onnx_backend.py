"""ONNX Runtime export backend: ``model.onnx`` (fp32, fused), ``model_quantized.onnx`` (dynamic int8) and
``model_static_quantized.onnx`` (static int8, calibrated on text).

The TorchScript exporter (``dynamo=False``) through a wrapper with an explicit forward is used because ONNX
Runtime's transformer optimizer fuses Attention only on its graphs (it does not match the dynamo graph's mask
path); eager attention is used while tracing, and the mask format is ``AttentionMask``, which is right for left
padding too.

Static int8 (``precision="int8-static"``) quantises the unfused graph (after ``quant_pre_process``'s shape
inference, which the fused graph's contrib operators defeat) in QDQ format: int8 per-channel weights, uint8
activations with MinMax ranges calibrated on the user's texts, each batch padded on the right and on the left.
ONNX Runtime fuses the QDQ pairs into integer kernels when it loads the file. Only the weight MatMuls before the
activation function are quantised (:func:`_static_exclusions`). Measured: on the fused graph only the plain
MatMuls were quantised (Attention kept fp32) and it ran slower than fp32; int8 activations (S8S8) ran about 3x
slower than uint8 on an AVX-512 VNNI CPU; quantising every MatMul left all-MiniLM-L6-v2 at a min token cosine
of 0.48 (mean 0.89) to PyTorch, against 0.93 with the exclusions.
"""

from __future__ import annotations

import importlib.util
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from hf_ose.data import padding_tokenizer
from hf_ose.export.backend import ExportBackend, ExportError, Session
from hf_ose.export.core import head_of, input_names
from hf_ose.export.texts import Text, clean_texts, tokenize

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

#: File names in Optimum's ONNX layout, per precision.
FILES = {"fp32": "model.onnx", "int8": "model_quantized.onnx", "int8-static": "model_static_quantized.onnx"}
#: Operators whose output feeds a feed-forward down-projection (GELU's last Mul, or a fused activation).
_ACTIVATION_OPS = {"Mul", "Erf", "Gelu", "FastGelu", "BiasGelu", "Relu", "Tanh", "Sigmoid"}
#: Model types ONNX Runtime's optimizer has a BERT-like fusion for.
_OPTIMIZER_TYPES = {"bert": "bert", "roberta": "bert", "xlm-roberta": "bert", "electra": "bert"}
OPSET = 17
#: Static int8: calibration texts per batch, and the longest calibration sequence in tokens.
CALIBRATION_BATCH = 8
CALIBRATION_MAX_LENGTH = 128


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
    precisions = ("fp32", "int8", "int8-static")
    calibrated_precisions = ("int8-static",)

    def available(self) -> bool:
        return all(importlib.util.find_spec(package) for package in ("onnx", "onnxruntime"))

    def export(self, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, out_dir: Path, *,
               precision: str, calibration: Sequence[Text] | None) -> list[Path]:
        if precision == "fp32":
            return [self._export_fp32(model, tokenizer, out_dir / FILES["fp32"])]
        target = out_dir / FILES[precision]
        graph = out_dir / f".{target.name}.fp32.onnx"  # quantised from a fresh graph, never a stale model.onnx
        try:
            if precision == "int8":
                return [_quantize(self._export_fp32(model, tokenizer, graph), target)]
            words = head_of(model) == "token-classification"
            batches = _calibration_batches(tokenizer, input_names(model, tokenizer), calibration, words=words)
            return [_quantize_static(self._export_fp32(model, tokenizer, graph, fuse=False), target, batches)]
        finally:
            graph.unlink(missing_ok=True)

    def session(self, out_dir: Path, precision: str, *, threads: int | None = None) -> Session:
        import onnxruntime

        if precision not in FILES:
            raise ExportError(f"The ONNX backend exports {list(FILES)}, not {precision!r}.")
        path = out_dir / FILES[precision]
        if not path.is_file():
            raise ExportError(f"{out_dir} holds no {path.name}: export it with precision={precision!r} first.")
        options = onnxruntime.SessionOptions()
        if threads:
            options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
        inference = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        names = [node.name for node in inference.get_inputs()]

        def run(inputs: dict[str, np.ndarray]) -> np.ndarray:
            return inference.run(None, {name: inputs[name] for name in names})[0]

        return run

    def _export_fp32(self, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, path: Path, *,
                     fuse: bool = True) -> Path:
        """The fp32 graph at ``path``: fused by ONNX Runtime's transformer optimizer unless ``fuse`` is false."""
        names = input_names(model, tokenizer)
        head = head_of(model)
        output = "last_hidden_state" if head == "feature-extraction" else "logits"
        example = tokenizer(["an example", "a somewhat longer example sentence"], padding=True, return_tensors="pt")
        axes = {name: {0: "batch_size", 1: "sequence_length"} for name in names}
        axes[output] = {0: "batch_size"} if head == "text-classification" else {0: "batch_size", 1: "sequence_length"}
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
            if fuse:
                _optimize(raw, path, model)
            else:
                raw.replace(path)
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


def _calibration_batches(tokenizer: PreTrainedTokenizerBase, names: list[str], calibration: Sequence[Text] | None,
                         *, words: bool) -> list[dict[str, np.ndarray]]:
    """``calibration`` (``words``: a token classifier's) in batches of :data:`CALIBRATION_BATCH`, each padded on
    the right and on the left."""
    texts = clean_texts(calibration or [], words=words)
    if not texts:
        raise ExportError(
            "ONNX static int8 needs calibration text (real sentences like those the model will see): pass "
            "calibration=[...], or export precision='int8' (dynamic, no calibration needed)."
        )
    tokenizer = padding_tokenizer(tokenizer)
    batches = []
    for start in range(0, len(texts), CALIBRATION_BATCH):
        for side in ("right", "left"):
            encoded = tokenize(tokenizer, texts[start:start + CALIBRATION_BATCH], padding=True, truncation=True,
                               max_length=CALIBRATION_MAX_LENGTH, padding_side=side, return_tensors="np")
            batches.append({name: np.asarray(encoded[name], dtype=np.int64) for name in names})
    return batches


def _static_exclusions(graph_file: Path) -> list[str]:
    """The MatMuls static int8 leaves in fp32: activation x activation (attention scores and context) and those
    fed by an activation function (feed-forward down-projections, whose inputs carry outliers that one static
    per-tensor range crushes)."""
    import onnx

    graph = onnx.load(str(graph_file), load_external_data=False).graph
    weights = {tensor.name for tensor in graph.initializer}
    producer = {output: node.op_type for node in graph.node for output in node.output}
    return [node.name for node in graph.node if node.op_type == "MatMul" and (
        not any(name in weights for name in node.input)
        or any(producer.get(name) in _ACTIVATION_OPS for name in node.input))]


def _quantize_static(source: Path, target: Path, batches: list[dict[str, np.ndarray]]) -> Path:
    """Static QDQ int8 of the unfused graph ``source``: per-channel int8 weights, uint8 activations with MinMax
    ranges from ``batches``, for the MatMuls :func:`_static_exclusions` leaves. ``quant_pre_process`` first folds
    constants and infers the shapes the quantizer needs (ONNX's own inference: the symbolic one gives up on some
    BERT graphs)."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter(batches)

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.batches, None)

    prepared = source.with_name(f"{source.name}.prepared.onnx")
    try:
        quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)  # ONNX's inference suffices
        quantize_static(str(prepared), str(target), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                        weight_type=QuantType.QInt8, activation_type=QuantType.QUInt8, op_types_to_quantize=["MatMul"],
                        nodes_to_exclude=_static_exclusions(prepared))
    finally:
        prepared.unlink(missing_ok=True)
    return target
