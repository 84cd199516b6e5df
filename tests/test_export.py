"""Export to ONNX Runtime: parity with PyTorch (right and left padding), the folder plain onnxruntime loads, the
CLI, and every refusal with its message."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import AutoTokenizer, BertConfig, BertForMaskedLM, BertForSequenceClassification, BertModel

from hf_ose.commands import main
from hf_ose.exceptions import ParentNotFoundError
from hf_ose.export import (
    BackendNotAvailableError, ExportBackend, ExportError, ParityError, Tolerance, backend as backend_module, export,
    get_export_backend,
)

pytest.importorskip("onnxruntime", reason="pip install 'hf-ose[onnx]'")
import onnx  # noqa: E402
import onnxruntime  # noqa: E402
from .testing_utils import slow

TEXTS = ["A quiet, moving film.", "It was dreadful and far too long for what it had to say, honestly.", "fine",
         "The cast is superb; the script is not."]


def _tiny(model_class: type, folder: Path, tokenizer_dir: Path, seed: int = 0) -> Path:
    config = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=64, max_position_embeddings=512, num_labels=3)
    torch.manual_seed(seed)
    model_class(config).save_pretrained(folder)
    AutoTokenizer.from_pretrained(tokenizer_dir).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def classifier_dir(tmp_path_factory, minilm_path) -> Path:
    return _tiny(BertForSequenceClassification, tmp_path_factory.mktemp("classifier"), minilm_path)


@pytest.fixture(scope="module")
def extractor_dir(tmp_path_factory, minilm_path) -> Path:
    return _tiny(BertModel, tmp_path_factory.mktemp("extractor"), minilm_path, seed=1)


def _pytorch(folder: Path, batch) -> np.ndarray:
    model = (BertForSequenceClassification if "ForSequence" in json.loads((folder / "config.json").read_text())
             ["architectures"][0] else BertModel).from_pretrained(folder).eval()
    with torch.no_grad():
        return model(**{k: torch.from_numpy(v) for k, v in batch.items()})[0].numpy()


def _run_like_readme(out: Path, file: str, texts: list[str], side: str) -> tuple[np.ndarray, dict]:
    """The lines README shows: plain onnxruntime and the tokenizer saved beside the model."""
    tokenizer = AutoTokenizer.from_pretrained(out)
    session = onnxruntime.InferenceSession(str(out / file), providers=["CPUExecutionProvider"])
    batch = tokenizer(texts, padding=True, padding_side=side, return_tensors="np")
    names = [node.name for node in session.get_inputs()]
    return session.run(None, {name: batch[name] for name in names})[0], {name: batch[name] for name in names}


def test_a_classifier_exports_in_fp32_and_int8_within_tolerance_for_both_paddings(classifier_dir, tmp_path):
    fp32 = export(classifier_dir, tmp_path, backend="onnx", calibration=TEXTS)
    assert fp32.head == "text-classification" and [p.name for p in fp32.files] == ["model.onnx"]
    assert fp32.parity.max_abs_diff <= 1e-4 and fp32.parity.agreement == 1.0 and fp32.parity.texts == 4
    int8 = export(classifier_dir, tmp_path, backend="onnx", precision="int8", calibration=TEXTS)
    assert [p.name for p in int8.files] == ["model_quantized.onnx"] and int8.parity.agreement >= 0.99
    assert {"model.onnx", "model_quantized.onnx", "config.json", "tokenizer.json", "export_report.json"} <= {
        p.name for p in tmp_path.iterdir()}
    report = json.loads((tmp_path / "export_report.json").read_text())
    assert set(report["artifacts"]) == {"onnx-fp32", "onnx-int8"}
    operators = {node.op_type for node in onnx.load(tmp_path / "model.onnx").graph.node}
    assert {"Attention", "SkipLayerNormalization"} <= operators  # fused, and still right for left padding
    assert report["artifacts"]["onnx-int8"]["parity"]["passed"] is True
    for side in ("right", "left"):
        logits, batch = _run_like_readme(tmp_path, "model.onnx", TEXTS, side)
        assert logits.shape == (4, 3)
        np.testing.assert_allclose(logits, _pytorch(classifier_dir, batch), atol=1e-4)


@slow
def test_the_real_parent_exports_as_a_feature_extractor_that_follows_pytorch_on_real_tokens(minilm_path, tmp_path):
    fp32 = export(minilm_path, tmp_path, backend="onnx")
    int8 = export(minilm_path, tmp_path, backend="onnx", precision="int8")
    assert fp32.head == "feature-extraction" and fp32.parity.max_abs_diff <= 1e-4
    assert fp32.parity.min_cosine > 0.99999 and fp32.parity.texts == 12
    assert int8.parity.mean_cosine >= 0.97 and int8.parity.low_cosine >= 0.9
    assert int8.parity.max_abs_diff > fp32.parity.max_abs_diff
    for side in ("right", "left"):
        hidden, batch = _run_like_readme(tmp_path, "model_quantized.onnx", TEXTS, side)
        real = batch["attention_mask"].astype(bool)
        reference = _pytorch(minilm_path, batch)[real]
        cosine = (hidden[real] * reference).sum(-1) / np.linalg.norm(hidden[real], axis=-1) / np.linalg.norm(
            reference, axis=-1)
        assert hidden.shape == (4, batch["input_ids"].shape[1], 384) and cosine.min() > 0.9


def test_the_cli_exports_and_refuses_another_models_folder_unless_overwrite(classifier_dir, extractor_dir, tmp_path,
                                                                              capsys):
    texts = tmp_path / "texts.txt"
    texts.write_text("\n".join(TEXTS) + "\n")
    out = tmp_path / "out"
    assert main(["export", str(extractor_dir), "--runtime", "onnxruntime", "--out", str(out),
                 "--texts", str(texts)]) == 0
    assert "feature-extraction" in capsys.readouterr().out
    assert main(["export", str(classifier_dir), "--runtime", "onnxruntime", "--precision", "int8", "--out", str(out)]) == 2
    assert "already holds a different model's export" in capsys.readouterr().err
    assert main(["export", str(classifier_dir), "--runtime", "onnxruntime", "--precision", "int8", "--out", str(out),
                 "--overwrite"]) == 0
    report = json.loads((out / "export_report.json").read_text())
    assert set(report["artifacts"]) == {"onnx-int8"} and not (out / "model.onnx").exists()
    assert report["artifacts"]["onnx-int8"]["task"] == "text-classification"
    empty = tmp_path / "empty.txt"
    empty.write_text("\n  \n")
    assert main(["export", str(classifier_dir), "--runtime", "onnxruntime", "--out", str(tmp_path / "x"),
                 "--texts", str(empty)]) == 2
    assert "No text found" in capsys.readouterr().err


def test_a_folder_holding_other_files_is_refused(classifier_dir, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ExportError, match="already holds other files.*overwrite"):
        export(classifier_dir, tmp_path, backend="onnx")
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_an_artifact_that_fails_parity_is_not_kept_and_the_error_says_by_how_much(classifier_dir, tmp_path):
    with pytest.raises(ParityError, match=r"max abs output difference .* > 0 \(by .*not kept"):
        export(classifier_dir, tmp_path, backend="onnx", tolerance=Tolerance(0.0, 1.0, 1.0))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("with_config, match", [(False, "holds no config.json"), (True, "Cannot load the weights")])
def test_a_folder_without_config_or_weights_is_refused(tmp_path, with_config, match):
    source = tmp_path / "model"
    source.mkdir()
    if with_config:
        BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=4, intermediate_size=64).save_pretrained(
            source)
    with pytest.raises(ParentNotFoundError, match=match):
        export(source, tmp_path / "out", backend="onnx")
    assert not (tmp_path / "out").exists()


def test_an_unsupported_head_empty_calibration_and_unknown_precision_are_refused(minilm_path, tmp_path):
    masked = _tiny(BertForMaskedLM, tmp_path / "mlm", minilm_path)
    with pytest.raises(ExportError, match="Cannot export a BertForMaskedLM: .*sequence classification"):
        export(masked, tmp_path / "out", backend="onnx")
    with pytest.raises(ExportError, match="calibration text is empty"):
        export(masked, tmp_path / "out", backend="onnx", calibration=["", "   "])
    with pytest.raises(ExportError, match=r"exports \['fp32', 'int8', 'int8-static'\], not 'fp16'"):
        export(masked, tmp_path / "out", backend="onnx", precision="fp16")
    assert not (tmp_path / "out").exists()


class _Missing(ExportBackend):
    name = "missing"
    install_hint = "pip install 'hf-ose[missing]'"

    def available(self) -> bool:
        return False

    def export(self, model, tokenizer, out_dir, *, precision, calibration):
        raise AssertionError("never called")

    def session(self, out_dir, precision):
        raise AssertionError("never called")


def test_a_backend_not_installed_or_unknown_is_refused_naming_the_fix(monkeypatch, classifier_dir, tmp_path):
    monkeypatch.setattr(backend_module.BACKENDS, "plugins", dict(backend_module.BACKENDS.plugins))
    backend_module.register_export_backend(_Missing)
    with pytest.raises(BackendNotAvailableError, match=r"packages are missing: pip install 'hf-ose\[missing\]'"):
        export(classifier_dir, tmp_path, backend="missing")
    with pytest.raises(BackendNotAvailableError, match="Unknown export backend 'tensorrt'.*'onnx'"):
        get_export_backend("tensorrt")
    assert list(tmp_path.iterdir()) == []
