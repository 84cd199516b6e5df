"""ONNX Runtime static int8 (``precision="int8-static"``): calibrated QDQ graph, which MatMuls stay fp32, parity
on the real parent with both paddings, and the refusal without calibration text."""

from __future__ import annotations

import json

import pytest

from hf_ose.commands import main
from hf_ose.data import load_texts
from hf_ose.export import TOLERANCES, ExportError, export

pytest.importorskip("onnxruntime", reason="pip install 'hf-ose[onnx]'")
import onnx  # noqa: E402
from .testing_utils import slow

TEXTS = ["A quiet, moving film.", "It was dreadful and far too long for what it had to say, honestly.", "fine",
         "The cast is superb; the script is not."]


def test_static_int8_quantises_the_projections_before_the_activation_and_keeps_the_rest_fp32(tiny_classifier_dir,
                                                                                              tmp_path):
    report = export(tiny_classifier_dir, tmp_path, backend="onnx", precision="int8-static", calibration=TEXTS)
    assert [p.name for p in report.files] == ["model_static_quantized.onnx"] and report.parity.agreement >= 0.99
    assert report.parity.tolerance == TOLERANCES["int8-static"]
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".onnx") == ["model_static_quantized.onnx"]
    nodes = onnx.load(tmp_path / "model_static_quantized.onnx").graph.node
    quantised = {node.output[0] for node in nodes if node.op_type == "DequantizeLinear"}
    matmuls = {node.name: [name in quantised for name in node.input] for node in nodes if node.op_type == "MatMul"}
    per_layer = {"query", "key", "value", "attention/output", "intermediate"}
    for name, inputs in matmuls.items():
        if any(f"/{part}/" in name for part in per_layer):
            assert inputs == [True, True], name  # calibrated activation and per-channel weight both int8
        else:
            assert inputs == [False, False], name  # scores, context and the feed-forward down-projection
    assert sum(all(inputs) for inputs in matmuls.values()) == 2 * len(per_layer)
    saved = json.loads((tmp_path / "export_report.json").read_text())
    assert saved["artifacts"]["onnx-int8-static"]["parity"]["passed"] is True


@slow
def test_static_int8_of_the_real_parent_keeps_every_token_close_for_both_paddings(minilm_path, sst2_dir, tmp_path):
    calibration = load_texts(sst2_dir / "validation.tsv")[:64]
    report = export(minilm_path, tmp_path, backend="onnx", precision="int8-static", calibration=calibration)
    assert report.head == "feature-extraction" and report.parity.texts == 64
    assert report.parity.passed and report.parity.max_abs_diff < 2.0
    assert report.parity.mean_cosine >= 0.97 and report.parity.low_cosine >= 0.9


def test_static_int8_without_calibration_text_is_refused_and_writes_nothing(tiny_classifier_dir, tmp_path):
    with pytest.raises(ExportError, match="static int8 needs calibration text.*precision='int8'"):
        export(tiny_classifier_dir, tmp_path, backend="onnx", precision="int8-static")
    assert not any(p.suffix == ".onnx" for p in tmp_path.iterdir())


def test_the_export_command_takes_the_static_precision_and_refuses_it_beside_int8(tiny_classifier_dir, tmp_path,
                                                                                    capsys):
    texts = tmp_path / "calibration.txt"
    texts.write_text("\n".join(TEXTS) + "\n")
    out = tmp_path / "out"
    assert main(["export", str(tiny_classifier_dir), "--runtime", "onnxruntime", "--precision", "int8-static",
                 "--texts", str(texts), "--out", str(out)]) == 0
    assert "onnx-int8-static" in json.loads((out / "export_report.json").read_text())["artifacts"]
    assert main(["export", str(tiny_classifier_dir), "--runtime", "onnxruntime-int8", "--precision", "fp32",
                 "--out", str(out)]) == 2
    assert "--runtime onnxruntime-int8 is int8, --precision fp32 is not" in capsys.readouterr().err
