"""OpenVINO export backend: ``openvino`` + ``nncf`` directly (``pip install 'hf-ose[openvino]'``).

The PyTorch model is converted by ``openvino.convert_model`` through a wrapper with an explicit
``forward(input_ids, attention_mask[, token_type_ids])``; batch and sequence dimensions are dynamic. int8 is
NNCF post-training quantisation (``ModelType.TRANSFORMER``: SmoothQuant, fast bias correction) of that same
converted model, calibrated on the user's texts tokenized with the model's tokenizer, each batch padded on the
right and on the left.

Layout (Optimum-Intel's file names; fp32 and int8 live side by side in one folder with one config and
tokenizer, the way sentence-transformers publishes OpenVINO models):

- fp32: ``openvino_model.xml`` / ``openvino_model.bin`` (what ``OVModel*.from_pretrained(folder)`` reads);
- int8: ``openvino_model_qint8_quantized.xml`` / ``.bin`` (``from_pretrained(folder,
  file_name="openvino_model_qint8_quantized.xml")``).

Weights are saved uncompressed (``save_model`` would otherwise store fp16), and the output tensor is named
``logits`` (classifier) or ``last_hidden_state`` (feature extractor), as Optimum-Intel expects. CPUs with
AVX-512 BF16 or AMX run OpenVINO in bf16 by default; :meth:`OpenVinoBackend.session` compiles both precisions
with ``INFERENCE_PRECISION_HINT: f32`` (:data:`COMPILE_CONFIG`), so the int8 artifact's other operations stay
fp32 and parity does not depend on the CPU.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch

from hf_ose.data import padding_tokenizer
from hf_ose.exceptions import HfOseError
from hf_ose.export import ExportBackend, ExportError, Session, head_of, input_names
from hf_ose.export.texts import Text, clean_texts, tokenize

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

#: The artifact's file stem per precision (``<stem>.xml`` holds the graph, ``<stem>.bin`` the weights).
FILE_STEMS: dict[str, str] = {"fp32": "openvino_model", "int8": "openvino_model_qint8_quantized"}
#: How :meth:`OpenVinoBackend.session` compiles each precision for the CPU.
COMPILE_CONFIG: dict[str, dict[str, str]] = {
    "fp32": {"INFERENCE_PRECISION_HINT": "f32"},
    "int8": {"INFERENCE_PRECISION_HINT": "f32"},
}
#: Calibration texts per NNCF sample, and the longest calibration sequence in tokens.
CALIBRATION_BATCH = 8
CALIBRATION_MAX_LENGTH = 128
#: Traced once to build the graph; shapes stay dynamic. The batch must hold padding: transformers drops an
#: all-ones attention mask in Python, and the trace would bake that in.
_EXAMPLE_TEXTS = ("An example sentence to trace the model.", "Short one.")


class ArtifactNotFoundError(HfOseError, FileNotFoundError):
    """The folder holds no OpenVINO artifact of the precision asked for."""


class _MainOutput(torch.nn.Module):
    """``model`` with positional tensor inputs, returning only its main output (logits or last hidden state)."""

    def __init__(self, model: PreTrainedModel, names: list[str], output: str) -> None:
        super().__init__()
        self.model, self.names, self.output = model, names, output

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
        given = {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids}
        return self.model(**{name: given[name] for name in self.names})[self.output]


class OpenVinoBackend(ExportBackend):
    """fp32 and NNCF-calibrated int8 OpenVINO IR, compiled for the CPU with an explicit f32 precision hint."""

    name: ClassVar[str] = "openvino"
    install_hint: ClassVar[str] = "pip install 'hf-ose[openvino]'"
    precisions: ClassVar[tuple[str, ...]] = ("fp32", "int8")
    calibrated_precisions: ClassVar[tuple[str, ...]] = ("int8",)

    def available(self) -> bool:
        try:
            import nncf  # noqa: F401
            import openvino  # noqa: F401
        except ImportError:
            return False
        return True

    def export(self, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, out_dir: Path, *,
               precision: str, calibration: Sequence[Text] | None) -> list[Path]:
        stem = _stem(precision)
        words = head_of(model) == "token-classification"
        texts = _calibration_texts(calibration, words=words) if precision == "int8" else []
        tokenizer = padding_tokenizer(tokenizer)
        names = input_names(model, tokenizer)
        ov_model = _convert(model.eval(), tokenizer, names)
        if precision == "int8":
            ov_model = _quantize(ov_model, tokenizer, names, texts)
        return _save(ov_model, Path(out_dir), stem)

    def session(self, out_dir: Path, precision: str, *, threads: int | None = None) -> Session:
        import openvino as ov

        xml = Path(out_dir) / f"{_stem(precision)}.xml"
        if not xml.is_file():
            raise ArtifactNotFoundError(
                f"No OpenVINO {precision} model at {xml}: export it first with hf_ose.export.export(model, "
                f"{str(out_dir)!r}, backend='openvino', precision={precision!r})."
            )
        config = {**COMPILE_CONFIG[precision], **({"INFERENCE_NUM_THREADS": threads} if threads else {})}
        compiled = ov.Core().compile_model(str(xml), "CPU", config)
        names = [port.get_any_name() for port in compiled.inputs]

        def run(inputs: dict[str, np.ndarray]) -> np.ndarray:
            feed = {name: _input(inputs, name) for name in names}
            return np.array(compiled(feed)[0], copy=True)

        return run


def _stem(precision: str) -> str:
    if precision not in FILE_STEMS:
        raise ExportError(f"The OpenVINO backend exports {list(FILE_STEMS)}, not {precision!r}.")
    return FILE_STEMS[precision]


def _calibration_texts(calibration: Sequence[Text] | None, *, words: bool) -> list[Text]:
    texts = clean_texts(calibration or [], words=words)
    if not texts:
        raise ExportError(
            "OpenVINO int8 needs calibration text (real sentences like those the model will see): pass "
            "calibration=[...] (--calibration TEXTS on the command line), or export fp32."
        )
    return texts


def _encode(tokenizer: PreTrainedTokenizerBase, texts: Sequence[Text], names: list[str],
            side: str = "right") -> dict[str, torch.Tensor]:
    """``texts`` (or sentence pairs) padded on ``side``, as int64 tensors named ``names``."""
    encoded = tokenize(tokenizer, list(texts), padding=True, truncation=True, max_length=CALIBRATION_MAX_LENGTH,
                       padding_side=side, return_tensors="pt")
    return {name: encoded[name].to(torch.int64) for name in names}


def _convert(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, names: list[str]) -> Any:
    """The OpenVINO graph of ``model``'s main output, with dynamic batch and sequence dimensions."""
    import openvino as ov

    example = _encode(tokenizer, _EXAMPLE_TEXTS, names)
    with torch.no_grad():
        outputs = model(**example)
    output = "logits" if "logits" in outputs else "last_hidden_state"
    if output not in outputs:
        raise ExportError(
            f"{type(model).__name__} returns neither logits nor last_hidden_state ({list(outputs)}): export a "
            "sequence or token classifier, or a base model (feature extraction)."
        )
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)  # shape checks that hold for every input
        converted = ov.convert_model(
            _MainOutput(model, names, output), example_input=example,
            input=[(name, ov.PartialShape([-1, -1]), ov.Type.i64) for name in names],
        )
    converted.outputs[0].get_tensor().set_names({output})
    return converted


def _quantize(ov_model: Any, tokenizer: PreTrainedTokenizerBase, names: list[str], texts: list[Text]) -> Any:
    """NNCF post-training int8 of ``ov_model``, calibrated on ``texts`` in batches of :data:`CALIBRATION_BATCH`,
    each padded on the right and on the left (left padding moves activation ranges; measured on a tiny BERT).
    The transformer model type keeps residual adds and LayerNorm inputs in fp32 (NNCF's defaults quantise them
    too, and then fail parity on all-MiniLM-L6-v2: minimum token cosine 0.07); the performance preset (symmetric
    activations) keeps parity (0.97) and runs the faster int8 kernels."""
    import nncf

    batches = [{name: tensor.numpy() for name, tensor in _encode(tokenizer, texts[i:i + CALIBRATION_BATCH],
                                                                  names, side).items()}
               for i in range(0, len(texts), CALIBRATION_BATCH) for side in ("right", "left")]
    return nncf.quantize(ov_model, nncf.Dataset(batches), model_type=nncf.ModelType.TRANSFORMER,
                         preset=nncf.QuantizationPreset.PERFORMANCE, subset_size=len(batches))


def _save(ov_model: Any, out_dir: Path, stem: str) -> list[Path]:
    """Write ``<stem>.xml`` / ``.bin`` atomically: saved in a scratch folder beside them, then renamed, the
    weights first so the graph never points at missing weights."""
    import openvino as ov

    targets = [out_dir / f"{stem}.bin", out_dir / f"{stem}.xml"]
    with tempfile.TemporaryDirectory(dir=out_dir, prefix=f".{stem}.") as scratch:
        ov.save_model(ov_model, str(Path(scratch) / f"{stem}.xml"), compress_to_fp16=False)
        for target in targets:
            os.replace(Path(scratch) / target.name, target)
    return [targets[1], targets[0]]


def _input(inputs: dict[str, np.ndarray], name: str) -> np.ndarray:
    """``inputs[name]`` as int64; token type ids default to zeros, as in PyTorch."""
    if name in inputs:
        return np.asarray(inputs[name], dtype=np.int64)
    if name == "token_type_ids" and "input_ids" in inputs:
        return np.zeros_like(np.asarray(inputs["input_ids"]), dtype=np.int64)
    raise ExportError(f"The OpenVINO model needs the input {name!r}; pass {name} (as the tokenizer returns it).")
