"""The OpenVINO export backend: export -> session -> the same outputs as PyTorch, padded right and left."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("openvino", reason="pip install 'hf-ose[openvino]'")
pytest.importorskip("nncf", reason="pip install 'hf-ose[openvino]'")

from transformers import AutoModel, AutoTokenizer, BertConfig, BertForSequenceClassification, BertModel  # noqa: E402

from hf_ose.data import load_texts  # noqa: E402
from hf_ose.export import REPORT_NAME, ExportError, export, get_export_backend  # noqa: E402
from hf_ose.integrations.openvino_backend import ArtifactNotFoundError, OpenVinoBackend  # noqa: E402
from hf_ose.torch_context import seeded  # noqa: E402
from .testing_utils import slow

BACKEND = OpenVinoBackend()


@pytest.fixture(scope="module")
def tokenizer(minilm_path: Path):
    return AutoTokenizer.from_pretrained(minilm_path)


@pytest.fixture(scope="module")
def texts(sst2_dir: Path) -> list[str]:
    """Real SST-2 sentences the models are compared on (never used for calibration)."""
    return load_texts(sst2_dir / "test.tsv")[:48]


@pytest.fixture(scope="module")
def calibration(sst2_dir: Path) -> list[str]:
    return load_texts(sst2_dir / "train.tsv")[:128]


def tiny_config(tokenizer) -> BertConfig:
    return BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                      intermediate_size=64, num_labels=2)


@pytest.fixture(scope="module")
def tiny_classifier(tokenizer):
    with seeded(0):
        return BertForSequenceClassification(tiny_config(tokenizer)).eval()


@pytest.fixture(scope="module")
def tiny_classifier_dir(tmp_path_factory, tiny_classifier, tokenizer, calibration) -> Path:
    """One folder holding both precisions of the tiny classifier, side by side."""
    return export_both(tiny_classifier, tokenizer, tmp_path_factory.mktemp("tiny_classifier"), calibration)


@pytest.fixture(scope="module")
def real_parent(minilm_path: Path):
    return AutoModel.from_pretrained(minilm_path).eval()


@pytest.fixture(scope="module")
def real_parent_dir(tmp_path_factory, real_parent, tokenizer, calibration) -> Path:
    return export_both(real_parent, tokenizer, tmp_path_factory.mktemp("real_parent"), calibration)


def export_both(model, tokenizer, out: Path, calibration: list[str]) -> Path:
    """Both precisions of ``model`` exported into ``out``, side by side."""
    for precision in ("fp32", "int8"):
        BACKEND.export(model, tokenizer, out, precision=precision, calibration=calibration)
    return out


def both_paddings(tokenizer, texts: list[str]):
    """(side, numpy inputs, attention mask as bool) for right and left padding."""
    for side in ("right", "left"):
        batch = tokenizer(texts, padding=True, truncation=True, max_length=128, padding_side=side, return_tensors="np")
        inputs = {name: batch[name].astype(np.int64) for name in ("input_ids", "attention_mask", "token_type_ids")}
        yield side, inputs, inputs["attention_mask"].astype(bool)


def pytorch_output(model, inputs: dict[str, np.ndarray]) -> np.ndarray:
    with torch.no_grad():
        return model(**{name: torch.from_numpy(value) for name, value in inputs.items()})[0].numpy()


def mean_pooled(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    weights = mask[..., None].astype(hidden.dtype)
    return (hidden * weights).sum(1) / weights.sum(1)


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))


def test_the_backend_is_registered_under_its_entry_point_and_available():
    backend = get_export_backend("openvino")
    assert isinstance(backend, OpenVinoBackend)
    assert backend.available()
    assert backend.precisions == ("fp32", "int8")


def test_fp32_and_int8_live_side_by_side_in_optimum_intel_names(tiny_classifier_dir):
    assert sorted(path.name for path in tiny_classifier_dir.iterdir()) == [
        "openvino_model.bin", "openvino_model.xml",
        "openvino_model_qint8_quantized.bin", "openvino_model_qint8_quantized.xml",
    ]


def test_tiny_classifier_fp32_matches_pytorch_right_and_left_padded(tiny_classifier_dir, tiny_classifier,
                                                                       tokenizer, texts):
    session = BACKEND.session(tiny_classifier_dir, "fp32")
    for side, inputs, _ in both_paddings(tokenizer, texts):
        output, reference = session(inputs), pytorch_output(tiny_classifier, inputs)
        assert output.shape == reference.shape == (len(texts), 2), side
        assert np.abs(output - reference).max() < 1e-5, side
    single = {name: value[:1, :4] for name, value in next(both_paddings(tokenizer, texts[:1]))[1].items()}
    assert np.abs(session(single) - pytorch_output(tiny_classifier, single)).max() < 1e-5, "one unpadded text"


def test_tiny_classifier_int8_agrees_with_pytorch_right_and_left_padded(tiny_classifier_dir, tiny_classifier,
                                                                          tokenizer, texts):
    """Calibrating on both padding sides matters: right-only calibration moved left-padded logits by 3.5e-3,
    flipping most of this random model's (margin ~5e-3) predictions; both sides: 2e-4."""
    session = BACKEND.session(tiny_classifier_dir, "int8")
    for side, inputs, _ in both_paddings(tokenizer, texts):
        output, reference = session(inputs), pytorch_output(tiny_classifier, inputs)
        assert np.abs(output - reference).max() < 1e-3, side
        assert (output.argmax(-1) == reference.argmax(-1)).mean() >= 0.98, side
        assert np.abs(output - reference).max() > 0, "int8 should not be bit-identical to fp32"


@slow
def test_tiny_feature_extractor_fp32_matches_pytorch_on_real_tokens(tmp_path, tokenizer, texts):
    with seeded(1):
        model = BertModel(tiny_config(tokenizer), add_pooling_layer=False).eval()
    files = BACKEND.export(model, tokenizer, tmp_path, precision="fp32", calibration=None)
    assert [path.name for path in files] == ["openvino_model.xml", "openvino_model.bin"]
    session = BACKEND.session(tmp_path, "fp32")
    for side, inputs, real in both_paddings(tokenizer, texts):
        output, reference = session(inputs), pytorch_output(model, inputs)
        assert output.shape == reference.shape, side
        assert np.abs(output[real] - reference[real]).max() < 1e-5, side


def test_real_parent_fp32_matches_pytorch_right_and_left_padded(real_parent_dir, real_parent, tokenizer, texts):
    """Measured 4.9e-6 with the f32 hint; this CPU's default bf16 gave 0.02-0.07."""
    session = BACKEND.session(real_parent_dir, "fp32")
    for side, inputs, real in both_paddings(tokenizer, texts):
        output, reference = session(inputs), pytorch_output(real_parent, inputs)
        assert np.abs(output[real] - reference[real]).max() < 5e-5, side


def test_real_parent_int8_embeddings_stay_close_to_pytorch(real_parent_dir, real_parent, tokenizer, texts):
    """Measured: token cosine >= 0.96, mean-pooled sentence cosine >= 0.985 (mean 0.995), max abs 0.84."""
    session = BACKEND.session(real_parent_dir, "int8")
    for side, inputs, real in both_paddings(tokenizer, texts):
        output, reference = session(inputs), pytorch_output(real_parent, inputs)
        assert cosines(output[real], reference[real]).min() > 0.95, side
        sentence = cosines(mean_pooled(output, real), mean_pooled(reference, real))
        assert sentence.min() > 0.98 and sentence.mean() > 0.99, side
        assert np.abs(output[real] - reference[real]).max() < 2.0, side


def test_missing_token_type_ids_default_to_zeros_as_in_pytorch(tiny_classifier_dir, tokenizer, texts):
    session = BACKEND.session(tiny_classifier_dir, "fp32")
    _, inputs, _ = next(both_paddings(tokenizer, texts))
    without = {name: value for name, value in inputs.items() if name != "token_type_ids"}
    np.testing.assert_array_equal(session(without), session(inputs))


@pytest.mark.parametrize("calibration", [None, [], ["  ", ""]])
def test_int8_without_calibration_text_is_refused_before_any_file_is_written(tmp_path, tiny_classifier, tokenizer,
                                                                                 calibration):
    with pytest.raises(ExportError, match="int8 needs calibration text.*calibration="):
        BACKEND.export(tiny_classifier, tokenizer, tmp_path, precision="int8", calibration=calibration)
    assert list(tmp_path.iterdir()) == []


def test_unknown_precision_and_missing_artifact_are_named(tmp_path, tiny_classifier, tokenizer):
    with pytest.raises(ExportError, match=r"exports \['fp32', 'int8'\], not 'fp16'"):
        BACKEND.export(tiny_classifier, tokenizer, tmp_path, precision="fp16", calibration=None)
    with pytest.raises(ArtifactNotFoundError, match="No OpenVINO int8 model.*precision='int8'"):
        BACKEND.session(tmp_path, "int8")


@slow
def test_export_through_the_core_keeps_a_parity_checked_real_parent(tmp_path, minilm_path, calibration):
    out = tmp_path / "minilm-openvino"
    report = export(minilm_path, out, backend="openvino", precision="int8", calibration=calibration)
    assert report.parity.passed and report.head == "feature-extraction"
    assert report.parity.mean_cosine > 0.98 and report.parity.low_cosine > 0.95
    written = json.loads((out / REPORT_NAME).read_text())["artifacts"]["openvino-int8"]
    assert written["files"] == ["openvino_model_qint8_quantized.xml", "openvino_model_qint8_quantized.bin"]
    assert {"config.json", "tokenizer.json"} <= {path.name for path in out.iterdir()}
