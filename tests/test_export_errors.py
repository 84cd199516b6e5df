"""Export's bad inputs not covered in test_export.py: a model that is not a text encoder, a folder without a
tokenizer, a missing model folder or calibration file, an output path that is a file, a backend whose packages
are missing, a failed re-export next to a kept artifact, and an unknown latency runtime."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch
from transformers import (
    AutoTokenizer, BertConfig, BertForQuestionAnswering, BertForSequenceClassification, BertModel, T5Config,
    T5ForConditionalGeneration, ViTConfig, ViTModel,
)

from hf_ose import LatencySettings
from hf_ose.commands import main
from hf_ose.exceptions import OutputNotWritableError
from hf_ose.export import REPORT_NAME, BackendNotAvailableError, ExportError, ParityError, Tolerance, export
from hf_ose.latency import RuntimeNotAvailableError

pytest.importorskip("onnxruntime", reason="pip install 'hf-ose[onnx]'")

BERT = dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=4, intermediate_size=64)
FAILS_ALWAYS = Tolerance(max_abs_diff=0.0, min_agreement=1.0, min_mean_cosine=1.0)


def _save(model: torch.nn.Module, folder: Path, tokenizer_dir: Path | None) -> Path:
    model.save_pretrained(folder)
    if tokenizer_dir is not None:
        AutoTokenizer.from_pretrained(tokenizer_dir).save_pretrained(folder)
    return folder


def _classifier(folder: Path, tokenizer_dir: Path, seed: int) -> Path:
    torch.manual_seed(seed)
    return _save(BertForSequenceClassification(BertConfig(**BERT, num_labels=2)), folder, tokenizer_dir)


def _files(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


NOT_TEXT_ENCODERS = {
    "vision": (lambda: ViTModel(ViTConfig(**BERT, image_size=32, patch_size=16)),
               "Cannot export a ViTModel: it reads pixel_values, not text"),
    "seq2seq": (lambda: T5ForConditionalGeneration(T5Config(vocab_size=128, d_model=32, d_kv=8, d_ff=64,
                                                            num_layers=1, num_heads=4)),
                "Cannot export a T5ForConditionalGeneration: .*encoders"),
    "question-answering": (lambda: BertForQuestionAnswering(BertConfig(**BERT)),
                           "Cannot export a BertForQuestionAnswering: .*sequence classification or regression .*token "
                           "classification .* feature extraction"),
}


@pytest.mark.parametrize("make, match", NOT_TEXT_ENCODERS.values(), ids=NOT_TEXT_ENCODERS.keys())
def test_a_model_that_is_not_a_text_classifier_or_encoder_is_refused_before_any_file(make, match, tmp_path,
                                                                                       minilm_path):
    source = _save(make(), tmp_path / "model", minilm_path)
    with pytest.raises(ExportError, match=match):
        export(source, tmp_path / "out", backend="onnx")
    assert not (tmp_path / "out").exists()


def test_a_model_folder_without_tokenizer_files_is_refused(tmp_path):
    """transformers builds a BERT tokenizer from the config alone, knowing only the special tokens: every word
    would be [UNK] and the export would pass parity on nonsense."""
    source = _save(BertModel(BertConfig(**BERT)), tmp_path / "model", tokenizer_dir=None)
    with pytest.raises(ExportError, match=r"holds no tokenizer files .*5 special tokens.*tokenizer="):
        export(source, tmp_path / "out", backend="onnx")
    assert not (tmp_path / "out").exists()


def test_the_cli_names_a_missing_model_folder_and_a_missing_calibration_file(tmp_path, minilm_path, capsys):
    assert main(["export", str(tmp_path / "nowhere"), "--runtime", "onnxruntime", "--out", str(tmp_path / "out")]) == 2
    assert f"The folder {tmp_path / 'nowhere'} does not exist" in capsys.readouterr().err
    assert main(["export", str(minilm_path), "--runtime", "onnxruntime", "--texts", str(tmp_path / "texts.txt"),
                 "--out", str(tmp_path / "out")]) == 2
    assert "--texts" in (err := capsys.readouterr().err) and "no such file" in err
    assert not (tmp_path / "out").exists()


def test_an_output_path_that_is_a_file_is_refused(tmp_path, minilm_path):
    (tmp_path / "out").write_text("not a folder")
    with pytest.raises(OutputNotWritableError, match="Cannot write to the output folder"):
        export(minilm_path, tmp_path / "out", backend="onnx")


@pytest.mark.parametrize("backend, package", [("onnx", "onnxruntime"), ("openvino", "openvino")])
def test_a_backend_whose_packages_are_missing_names_its_extra(backend, package, tmp_path, minilm_path, monkeypatch,
                                                              capsys):
    monkeypatch.setitem(sys.modules, package, None)  # what `import` and find_spec see when it is not installed
    with pytest.raises(BackendNotAvailableError, match=rf"{backend}' is registered but its packages are missing: "
                                                       rf"pip install 'hf-ose\[{backend}\]'"):
        export(minilm_path, tmp_path / "out", backend=backend)
    assert main(["export", str(minilm_path), "--runtime", backend, "--out", str(tmp_path / "out")]) == 2
    assert f"pip install 'hf-ose[{backend}]'" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_a_re_export_that_fails_parity_leaves_the_kept_artifact_and_its_report(tmp_path, minilm_path):
    source, out = _classifier(tmp_path / "model", minilm_path, seed=0), tmp_path / "out"
    export(source, out, backend="onnx")
    kept = _files(out)
    with pytest.raises(ParityError, match=r"onnx fp32 artifact failed parity.* > 0 \(by .*It was not kept"):
        export(source, out, backend="onnx", tolerance=FAILS_ALWAYS)
    assert _files(out) == kept  # model.onnx, config, tokenizer and report untouched; no scratch left behind


def test_an_overwrite_that_fails_parity_keeps_the_other_models_export(tmp_path, minilm_path):
    first, second = (_classifier(tmp_path / f"model{seed}", minilm_path, seed) for seed in (0, 1))
    out = tmp_path / "out"
    export(first, out, backend="onnx")
    kept = _files(out)
    with pytest.raises(ParityError, match="It was not kept"):
        export(second, out, backend="onnx", overwrite=True, tolerance=FAILS_ALWAYS)
    assert _files(out) == kept
    export(second, out, backend="onnx", precision="int8", overwrite=True, calibration=["A fine film.", "Dull."])
    report = json.loads((out / REPORT_NAME).read_text())
    assert set(report["artifacts"]) == {"onnx-int8"} and not (out / "model.onnx").exists()


def test_an_unknown_latency_runtime_is_refused_naming_the_choices(tmp_path, capsys):
    with pytest.raises(RuntimeNotAvailableError, match=r"Unknown latency runtime 'nope'; choose one of \[.*'pytorch'"):
        LatencySettings(runtime="nope")
    with pytest.raises(SystemExit) as exited:  # argparse rejects the value before any work
        main(["extract", "bert-base-uncased", "--runtime", "nope", "--out", str(tmp_path / "out")])
    assert exited.value.code == 2
    assert "argument --runtime: Unknown latency runtime 'nope'" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_the_old_name_of_head_of_still_works_and_warns():
    from hf_ose.export import head_of

    with pytest.warns(DeprecationWarning, match="hf_ose.export.task_of is now hf_ose.export.head_of"):
        from hf_ose.export import task_of
    assert task_of is head_of and head_of(BertModel(BertConfig(**BERT))) == "feature-extraction"
