"""Latency runtimes that time the exported artifact: ONNX Runtime and OpenVINO, fp32 and int8, found by name."""

from __future__ import annotations

import json
import re
from importlib import metadata

import numpy as np
import pytest
import torch
from transformers import BertConfig

from hf_ose.commands import main
from hf_ose.integrations.latency_runtimes import (
    ArtifactCache, OnnxRuntimeFp32, OnnxRuntimeInt8, OpenVinoFp32, OpenVinoInt8, fixed_inputs,
)
from hf_ose.latency import settings as runtimes
from hf_ose.latency.settings import KNOWN_EXTERNAL, LatencySettings, RuntimeNotAvailableError, get_runtime
from hf_ose.latency.timing import measure_latency, random_model
from .testing_utils import slow

CONFIG = BertConfig(vocab_size=600, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64)
CLASSES = {"onnxruntime": OnnxRuntimeFp32, "onnxruntime-int8": OnnxRuntimeInt8, "openvino": OpenVinoFp32,
           "openvino-int8": OpenVinoInt8}


def settings(name: str, threads: int = 1) -> LatencySettings:
    return LatencySettings(runtime=name, batch_size=2, seq_len=12, threads=threads, warmup=1, repeats=2, rounds=1)


@pytest.fixture(scope="module")
def loaded():
    """Each runtime as the registry loads it from its entry point (one instance per name, shared by the tests)."""
    registry = runtimes.RUNTIMES
    saved = dict(registry.plugins)
    registry.plugins.clear()
    yield {name: get_runtime(name) for name in CLASSES}
    registry.plugins.clear()
    registry.plugins.update(saved)


def test_each_runtime_is_an_installed_entry_point_with_an_install_hint(loaded):
    offered = {point.name for point in metadata.entry_points(group=runtimes.ENTRY_POINT_GROUP)}
    for name, cls in CLASSES.items():
        assert name in offered and type(loaded[name]) is cls and cls.name == name
        assert "pip install 'hf-ose[" in KNOWN_EXTERNAL[name][1] and loaded[name].install_hint


@slow
@pytest.mark.parametrize("name", CLASSES)
def test_a_session_runs_the_candidate_on_its_threads_and_removes_its_folder(loaded, name):
    runtime = loaded[name]
    for threads in (1, 2):
        with runtime.session(CONFIG, settings(name, threads)) as forward:
            output = np.asarray(forward())
            folder, files = forward.folder, sorted(path.suffix for path in forward.folder.iterdir())
            assert forward.threads == threads
        assert not folder.exists()
    assert files == ([".onnx"] if name.startswith("onnx") else [".bin", ".xml"])
    inputs = fixed_inputs(CONFIG, settings(name))
    with torch.no_grad():
        expected = random_model(CONFIG)(input_ids=torch.from_numpy(inputs["input_ids"]),
                                        attention_mask=torch.from_numpy(inputs["attention_mask"]))[0].numpy()
    assert output.shape == expected.shape == (2, 12, 32)  # the candidate itself, on settings' input shape
    if runtime.precision == "fp32":
        assert np.abs(output - expected).max() < 1e-4
    else:
        cosine = (output * expected).sum() / (np.linalg.norm(output) * np.linalg.norm(expected))
        assert 0.95 < cosine < 1.0 - 1e-9  # quantised: close to the fp32 model, but not the fp32 model


def test_a_measurement_rebuilds_the_session_from_the_cached_export(loaded, monkeypatch):
    name = "onnxruntime-int8"  # the cache is the runtimes' shared base: one of them shows it
    runtime = loaded[name]
    runtime.cache.clear()
    first = measure_latency(CONFIG, settings(name))
    assert len(first.times_ms) == 2 and first.median_ms > 0 and first.settings.runtime == name
    assert runtime.cache.size > 0

    def no_export():
        raise AssertionError("exported again")

    monkeypatch.setattr(runtime, "backend", no_export)
    again = measure_latency(CONFIG, settings(name))
    assert len(again.times_ms) == 2 and again.median_ms > 0


def test_the_cache_keeps_the_most_recent_artifacts_within_its_size():
    cache = ArtifactCache(max_bytes=10)
    cache.put("a", {"f": b"1234"})
    cache.put("b", {"f": b"1234"})
    assert cache.get("a") == {"f": b"1234"}  # now the most recent
    cache.put("c", {"f": b"1234"})
    assert cache.get("b") is None and cache.get("a") is not None and cache.get("c") is not None
    cache.put("huge", {"f": b"x" * 11})
    assert cache.get("huge") is None and cache.size == 8


def test_unknown_and_uninstalled_runtimes_name_the_choices_and_the_fix(loaded, monkeypatch):
    with pytest.raises(RuntimeNotAvailableError, match=r"'onnxruntime-fp16'.*'onnxruntime-int8'.*'openvino-int8'"):
        LatencySettings(runtime="onnxruntime-fp16")
    monkeypatch.setattr(loaded["openvino-int8"], "packages", ("no_such_package",))
    with pytest.raises(RuntimeNotAvailableError, match=r"'openvino-int8'.*missing: pip install 'hf-ose\[openvino\]'"):
        get_runtime("openvino-int8")


def test_extract_refuses_an_unknown_runtime_naming_the_choices(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["extract", "bert-base-uncased", "--runtime", "tensorrt"])
    assert exit_.value.code == 2
    assert re.search(r"--runtime: Unknown latency runtime 'tensorrt'; choose one of \[.*'onnxruntime-int8'",
                     capsys.readouterr().err)


@slow
def test_extract_measures_on_the_runtime_asked_for_and_records_it(tmp_path, capsys):
    parent = tmp_path / "parent"
    BertConfig(vocab_size=600, hidden_size=64, num_hidden_layers=3, num_attention_heads=2,
               intermediate_size=128).save_pretrained(parent)
    grid = tmp_path / "grid.json"
    grid.write_text(json.dumps({"depth": [1, 2], "hidden": [32, 64], "intermediate": [64, 128]}))
    out = tmp_path / "out"
    code = main(["extract", str(parent), "--space", str(grid), "--runtime", "onnxruntime-int8", "--seq-len", "16",
                 "--threads", "1", "--latency-samples", "4", "--out", str(out), "--quiet", "--on-noise", "warn"])
    assert code == 0
    assert "1 threads, onnxruntime-int8)" in capsys.readouterr().out
    record = json.loads((out / "front.json").read_text())["record"]
    assert record["latency"]["runtime"] == "onnxruntime-int8" and record["latency"]["measured"] == 4
    assert record["latency"]["parent_latency_ms"] > 0


def test_the_cache_key_of_an_exported_runtime_carries_its_package_versions(loaded):
    onnx, openvino = settings("onnxruntime-int8").fingerprint(), settings("openvino").fingerprint()
    assert onnx["runtime_versions"] == {"onnx": metadata.version("onnx"),
                                        "onnxruntime": metadata.version("onnxruntime")}
    assert openvino["runtime_versions"] == {"openvino": metadata.version("openvino"), "nncf": metadata.version("nncf")}
    assert "runtime_versions" not in LatencySettings().fingerprint()  # PyTorch: torch's version is already there
