"""``hf-ose bench`` / ``hf_ose.export.bench``: a PyTorch folder and ONNX Runtime and OpenVINO artifacts timed side
by side, what the result records, the round-robin order, and every refusal with its message. No timing asserts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from hf_ose.commands import main
from hf_ose.export import BackendNotAvailableError, BenchError, BenchTarget, bench, export, measure, measure_models
from hf_ose.export.bench import ARTIFACT_FILES, fixed_inputs, open_targets

pytest.importorskip("onnxruntime", reason="pip install 'hf-ose[onnx]'")
pytest.importorskip("openvino", reason="pip install 'hf-ose[openvino]'")
from hf_ose.integrations.onnx_backend import FILES, OnnxBackend  # noqa: E402
from hf_ose.integrations.openvino_backend import FILE_STEMS  # noqa: E402

TEXTS = ["A quiet, moving film.", "It was dreadful and far too long for what it had to say, honestly.", "fine",
         "The cast is superb; the script is not."]
SHAPE = {"batch_size": 2, "seq_len": 16}


@pytest.fixture(scope="module")
def artifacts_dir(tmp_path_factory, tiny_classifier_dir) -> Path:
    """The classifier exported with ONNX Runtime fp32 and OpenVINO fp32 into one folder."""
    folder = tmp_path_factory.mktemp("artifacts")
    for backend in ("onnx", "openvino"):
        export(tiny_classifier_dir, folder, backend=backend, calibration=TEXTS)
    return folder


def test_a_model_folder_and_an_artifact_folder_are_timed_side_by_side(tiny_classifier_dir, artifacts_dir):
    result = bench([tiny_classifier_dir, artifacts_dir], threads=1, warmup=1, rounds=2, repeats=3, **SHAPE)
    labels = [row.label for row in result.rows]
    assert labels == [f"{tiny_classifier_dir.name} pytorch fp32", f"{artifacts_dir.name} onnx fp32",
                      f"{artifacts_dir.name} openvino fp32"]
    assert [(row.runtime, row.precision) for row in result.rows] == [("pytorch", "fp32"), ("onnx", "fp32"),
                                                                     ("openvino", "fp32")]
    assert result.rows[0].speedup == 1.0
    for row in result.rows:
        assert len(row.times_ms) == 6 and min(row.times_ms) > 0
        low, high = row.quartiles_ms
        assert min(row.times_ms) <= low <= row.median_ms <= high <= max(row.times_ms)
        assert row.speedup == pytest.approx(result.rows[0].median_ms / row.median_ms)
    assert (result.threads, result.batch_size, result.seq_len, result.rounds, result.repeats) == (1, 2, 16, 2, 3)
    assert "cores" in result.cpu and {"torch", "onnxruntime", "openvino"} <= set(result.versions)
    assert result.rows[1].path == str(artifacts_dir / "model.onnx")
    table = result.table().splitlines()
    assert table[0] == f"CPU: {result.cpu}" and table[3].startswith(labels[0]) and table[3].endswith(" 1.00x")


def test_every_entry_runs_its_model_on_the_same_fixed_inputs(tiny_classifier_dir, artifacts_dir):
    targets = open_targets(tiny_classifier_dir, threads=1, **SHAPE) + open_targets(artifacts_dir, threads=1, **SHAPE)
    reference = targets[0].run().logits.detach().numpy()
    assert reference.shape == (2, 3)
    for target in targets[1:]:
        np.testing.assert_allclose(np.asarray(target.run()), reference, atol=1e-4)
    inputs = fixed_inputs(30522, 2, 16)
    assert inputs["input_ids"].shape == (2, 16) and inputs["input_ids"].max() < 30522
    assert (inputs["attention_mask"] == 1).all() and (inputs["token_type_ids"] == 0).all()
    np.testing.assert_array_equal(fixed_inputs(30522, 2, 16)["input_ids"], inputs["input_ids"])


def test_one_artifact_file_is_one_entry_and_each_precision_present_is_found(tiny_classifier_dir, artifacts_dir, tmp_path):
    assert [t.label for t in open_targets(artifacts_dir / "openvino_model.xml", threads=1)] == [
        f"{artifacts_dir.name} openvino fp32"]
    export(tiny_classifier_dir, tmp_path, backend="onnx", precision="int8", calibration=TEXTS)
    export(tiny_classifier_dir, tmp_path, backend="onnx", precision="int8-static", calibration=TEXTS)
    assert [(t.runtime, t.precision) for t in open_targets(tmp_path, threads=1)] == [("onnx", "int8"),
                                                                                     ("onnx", "int8-static")]


def test_the_file_names_bench_knows_are_the_backends_own():
    assert {name: precision for name, (backend, precision) in ARTIFACT_FILES.items() if backend == "onnx"} == {
        name: precision for precision, name in FILES.items()}
    assert {name: precision for name, (backend, precision) in ARTIFACT_FILES.items() if backend == "openvino"} == {
        f"{stem}.xml": precision for precision, stem in FILE_STEMS.items()}


def test_rounds_alternate_round_robin_after_a_warm_up_of_each_entry():
    calls: list[str] = []
    targets = [BenchTarget(name, "fake", "fp32", lambda name=name: calls.append(name)) for name in "abc"]
    result = measure(targets, threads=1, batch_size=1, seq_len=8, warmup=1, rounds=3, repeats=2)
    assert "".join(calls) == "abc" + "aabbcc" + "bbccaa" + "ccaabb"
    assert [len(row.times_ms) for row in result.rows] == [6, 6, 6]


def test_in_memory_models_run_on_the_given_inputs_labelled_by_their_keys():
    seen: dict[str, list[tuple[int, ...]]] = {"parent": [], "student": []}

    class Recorder(torch.nn.Module):
        def __init__(self, name: str):
            super().__init__()
            self.name = name

        def forward(self, input_ids, attention_mask):
            seen[self.name].append(tuple(input_ids.shape))
            return input_ids.sum() + attention_mask.sum()

    inputs = {"input_ids": torch.ones(2, 7, dtype=torch.long), "attention_mask": torch.ones(2, 7, dtype=torch.long)}
    result = measure_models({"parent": Recorder("parent"), "student": Recorder("student")}, inputs, threads=1,
                            warmup=1, rounds=2, repeats=3)
    assert [row.label for row in result.rows] == ["parent", "student"]
    assert (result.batch_size, result.seq_len, result.threads) == (2, 7, 1)
    assert seen == {"parent": [(2, 7)] * 7, "student": [(2, 7)] * 7}
    with pytest.raises(BenchError, match="batch x sequence"):
        measure_models({"parent": Recorder("parent")}, {"input_ids": torch.ones(7, dtype=torch.long)})


def test_the_cli_prints_ratios_against_the_first_and_writes_every_field(tiny_classifier_dir, artifacts_dir, tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert main(["bench", str(tiny_classifier_dir), str(artifacts_dir / "model.onnx"), "--threads", "1", "--batch-size", "2",
                 "--seq-len", "16", "--warmup", "0", "--rounds", "2", "--repeats", "2", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"{tiny_classifier_dir.name} pytorch fp32" in printed and f"Wrote {out}" in printed
    written = json.loads(out.read_text())
    assert set(written) == {"cpu", "threads", "batch_size", "seq_len", "warmup", "rounds", "repeats", "versions",
                            "rows"}
    assert (written["threads"], written["batch_size"], written["seq_len"], written["warmup"], written["rounds"],
            written["repeats"]) == (1, 2, 16, 0, 2, 2)
    assert [row["label"] for row in written["rows"]] == [f"{tiny_classifier_dir.name} pytorch fp32",
                                                         f"{artifacts_dir.name} onnx fp32"]
    for row in written["rows"]:
        assert set(row) == {"label", "runtime", "precision", "path", "times_ms", "speedup", "median_ms", "q1_ms",
                            "q3_ms", "min_ms", "max_ms"}
        assert len(row["times_ms"]) == 4 and row["min_ms"] <= row["q1_ms"] <= row["median_ms"] <= row["q3_ms"]
        assert row["median_ms"] == pytest.approx(float(np.median(row["times_ms"])))
    assert written["rows"][0]["speedup"] == 1.0


def test_paths_that_are_neither_models_nor_artifacts_are_refused(tmp_path, capsys):
    with pytest.raises(BenchError, match="missing does not exist.*config.json and weights"):
        bench([tmp_path / "missing"])
    (tmp_path / "notes.onnx").write_text("not a model")
    with pytest.raises(BenchError, match="notes.onnx is not an artifact file bench knows.*model_quantized.onnx"):
        bench([tmp_path / "notes.onnx"])
    (tmp_path / "config.json").write_text("{}")  # a config without weights or artifacts
    with pytest.raises(BenchError, match="holds neither a PyTorch model nor an exported artifact.*model.onnx"):
        bench([tmp_path])
    with pytest.raises(BenchError, match="at least one"):
        bench([])
    assert main(["bench", str(tmp_path / "missing")]) == 2
    assert "missing does not exist" in capsys.readouterr().err
    assert main(["bench", str(tmp_path), "--json", str(tmp_path / "no" / "bench.json")]) == 2
    assert "its folder does not exist" in capsys.readouterr().err
    assert main(["bench", str(tmp_path), "--json", str(tmp_path)]) == 2
    assert f"--json {tmp_path} is a folder: name a file" in capsys.readouterr().err


def test_bad_settings_are_refused_before_anything_is_loaded(artifacts_dir):
    with pytest.raises(BenchError, match="rounds must be at least 1, not 0"):
        bench([artifacts_dir], rounds=0)
    with pytest.raises(BenchError, match="warmup must be at least 0, not -1"):
        bench([artifacts_dir], warmup=-1)
    with pytest.raises(BenchError, match="threads must be at least 1, not 0"):
        bench([artifacts_dir], threads=0)


def test_an_artifact_whose_backend_is_not_installed_names_the_extra(artifacts_dir, monkeypatch):
    monkeypatch.setattr(OnnxBackend, "available", lambda self: False)
    with pytest.raises(BackendNotAvailableError, match=r"model.onnx is a ONNX Runtime artifact.*hf-ose\[onnx\]"):
        bench([artifacts_dir])


@pytest.mark.parametrize("num_labels", [5, 1], ids=["token-classification", "regression"])
def test_a_token_classifier_and_a_regression_model_are_benched_on_the_same_inputs(num_labels, tmp_path, minilm_path):
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification, BertForTokenClassification

    config = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=64, num_labels=num_labels)
    torch.manual_seed(0)
    model = (BertForTokenClassification if num_labels > 1 else BertForSequenceClassification)(config)
    model.save_pretrained(tmp_path / "model")
    AutoTokenizer.from_pretrained(minilm_path).save_pretrained(tmp_path / "model")
    for backend in ("onnx", "openvino"):
        export(tmp_path / "model", tmp_path / "artifacts", backend=backend, calibration=TEXTS)
    targets = open_targets(tmp_path / "model", threads=1, **SHAPE) + open_targets(tmp_path / "artifacts", threads=1,
                                                                                    **SHAPE)
    assert [(t.runtime, t.precision) for t in targets] == [("pytorch", "fp32"), ("onnx", "fp32"), ("openvino", "fp32")]
    reference = targets[0].run().logits.detach().numpy()
    assert reference.shape == ((2, 16, 5) if num_labels > 1 else (2, 1))
    for target in targets[1:]:
        np.testing.assert_allclose(np.asarray(target.run()), reference, atol=1e-4)
    result = bench([tmp_path / "model", tmp_path / "artifacts"], threads=1, warmup=0, rounds=1, repeats=1, **SHAPE)
    assert [row.runtime for row in result.rows] == ["pytorch", "onnx", "openvino"]
