"""The latency runtime registry: the built-in PyTorch runtime, runtimes registered from code and entry points."""

from __future__ import annotations

import importlib
import subprocess
import sys
from contextlib import contextmanager
from importlib import metadata

import pytest
from transformers import BertConfig

from hf_ose.latency import settings as runtimes
from hf_ose.latency.settings import (
    ENTRY_POINT_GROUP,
    LatencyRuntime,
    LatencySettings,
    RuntimeNotAvailableError,
    get_runtime,
    register_runtime,
    runtime_names,
)
from hf_ose.latency.timing import PyTorchRuntime, measure_latency
from .testing_utils import slow

CONFIG = BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32)


class CountingRuntime(LatencyRuntime):
    """A toy runtime: records the configs it was asked for and counts forward passes."""

    name = "counting"

    def __init__(self) -> None:
        self.sessions: list[tuple[str, int]] = []
        self.passes = 0
        self.open = False

    @contextmanager
    def session(self, config, settings):
        self.sessions.append((config.model_type, settings.seq_len))
        self.open = True
        try:
            yield self._run
        finally:
            self.open = False

    def _run(self) -> None:
        assert self.open, "a forward pass ran outside its session"
        self.passes += 1


class MissingPackagesRuntime(CountingRuntime):
    name = "missing"
    install_hint = "pip install some-runtime"

    def available(self) -> bool:
        return False


@pytest.fixture(autouse=True)
def fresh_registry(monkeypatch):
    """Each test starts from an empty registry (built-ins load again on demand)."""
    monkeypatch.setattr(runtimes.RUNTIMES, "plugins", {})


def fake_entry_points(monkeypatch, *entries: tuple[str, str]) -> None:
    points = [metadata.EntryPoint(name=name, value=value, group=ENTRY_POINT_GROUP) for name, value in entries]

    def entry_points(*, group: str):
        return [p for p in points if p.group == group]

    monkeypatch.setattr(metadata, "entry_points", entry_points)


def test_pytorch_is_built_in_and_loaded_on_first_use():
    assert "pytorch" in runtime_names() and runtimes.RUNTIMES.plugins == {}
    runtime = get_runtime("pytorch")
    assert isinstance(runtime, PyTorchRuntime) and get_runtime("pytorch") is runtime


def test_a_runtime_registered_from_code_is_timed_like_any_other():
    toy = register_runtime(CountingRuntime)
    settings = LatencySettings(runtime="counting", seq_len=8, threads=1, warmup=2, repeats=4)
    measurement = measure_latency(CONFIG, settings)
    assert toy.sessions == [("bert", 8)] and toy.passes == 6 and not toy.open
    assert len(measurement.times_ms) == 4 and measurement.median_ms >= 0
    assert settings.fingerprint()["runtime"] == "counting"
    assert "counting" in runtime_names()


def test_an_entry_point_runtime_is_found_by_name_and_loaded_lazily(monkeypatch):
    fake_entry_points(monkeypatch, ("counting", "tests.test_runtimes:CountingRuntime"))
    settings = LatencySettings(runtime="counting", seq_len=4, threads=1, warmup=0, repeats=1)
    assert "counting" in runtime_names() and "counting" not in runtimes.RUNTIMES.plugins
    measure_latency(CONFIG, settings)
    runtime = get_runtime("counting")
    assert isinstance(runtime, CountingRuntime) and runtime.passes == 1


def test_unknown_and_uninstalled_runtimes_name_the_fix(monkeypatch):
    fake_entry_points(monkeypatch)
    with pytest.raises(RuntimeNotAvailableError, match=r"OpenVINO.*pip install 'hf-ose\[openvino\]'.*'pytorch'"):
        LatencySettings(runtime="openvino")
    with pytest.raises(RuntimeNotAvailableError, match=r"Unknown latency runtime 'tensorrt'.*register_runtime"):
        get_runtime("tensorrt")
    register_runtime(MissingPackagesRuntime())
    with pytest.raises(RuntimeNotAvailableError, match="packages are missing: pip install some-runtime"):
        get_runtime("missing")


def test_register_runtime_rejects_what_is_not_a_runtime():
    with pytest.raises(TypeError, match="subclass LatencyRuntime"):
        register_runtime(object())

    class Nameless(CountingRuntime):
        name = ""

    with pytest.raises(ValueError, match="non-empty class attribute `name`"):
        register_runtime(Nameless)


@slow
def test_the_core_never_imports_integrations():
    code = (
        "import sys, hf_ose, hf_ose.latency.model, hf_ose.latency.settings as r;"
        "r.get_runtime('pytorch');"
        "print(sorted(m for m in sys.modules if m.startswith('hf_ose.integrations') or m == 'integrations'))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("old, name, new", [
    ("hf_ose.objectives.latency", "LatencySettings", "hf_ose.latency.settings"),
    ("hf_ose.objectives.latency", "random_model", "hf_ose.latency.timing"),
    ("hf_ose.objectives.runtimes", "RUNTIMES", "hf_ose.latency.settings"),
    ("hf_ose.objectives.latency_model", "LatencyNoiseError", "hf_ose.latency.model"),
    ("hf_ose.hardware", "cpu_description", "hf_ose.latency.settings"),
    ("hf_ose.objectives", "LatencyPredictor", "hf_ose.latency"),
    ("hf_ose.integrations.exported_runtime", "ExportedRuntime", "hf_ose.integrations.latency_runtimes"),
])
def test_the_old_latency_paths_still_resolve_with_a_deprecation_warning(old, name, new):
    module = importlib.import_module(old)
    with pytest.warns(DeprecationWarning, match=f"{old}.{name} has moved to {new}"):
        assert getattr(module, name) is getattr(importlib.import_module(new), name)


def test_the_old_latency_submodules_still_resolve_with_a_deprecation_warning():
    import hf_ose.objectives
    from hf_ose.latency import sampling

    with pytest.warns(DeprecationWarning, match="latency_plan has moved to hf_ose.latency.sampling"):
        assert hf_ose.objectives.latency_plan is sampling
    with pytest.raises(AttributeError, match="no attribute 'sampling'"):
        hf_ose.objectives.sampling
