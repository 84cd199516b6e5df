"""Latency measurement settings, measurement and the latency predictor."""

from __future__ import annotations

import json
import math
import os
import resource

import numpy as np
import pytest
import torch
from transformers import BertConfig, LlamaConfig

from hf_ose.architecture import Architecture
from hf_ose.objectives.counting import StaticCostCounter
from hf_ose.latency.model import LatencyModel
from hf_ose.latency.predictor import (
    FEATURES,
    LatencyPredictor,
    LatencySample,
    choose_sample,
    feature_vector,
)
from hf_ose.latency.sampling import EXTENDED, PREDICTED, WHOLE, extend_in_depth, plan_measurement
from hf_ose.latency.settings import LatencySettings, available_memory_bytes, cpu_description
from hf_ose.latency.timing import ModelTooLargeError, estimated_bytes, measure_latency, random_model

SETTINGS = LatencySettings(batch_size=2, seq_len=16, threads=1, warmup=1, repeats=3)


def tiny_config() -> BertConfig:
    return BertConfig(
        vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
        max_position_embeddings=64,
    )


# ---- settings ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"batch_size": 0}, "batch_size"),
        ({"seq_len": -1}, "seq_len"),
        ({"threads": 0}, "threads"),
        ({"repeats": 0}, "repeats"),
        ({"warmup": -1}, "warmup"),
        ({"runtime": "tensorrt"}, "Unknown latency runtime 'tensorrt'; choose one of .*'onnxruntime-int8'"),
        ({"rounds": 0}, "rounds"),
        ({"max_held_out_error": 0}, "max_held_out_error"),
        ({"on_noise": "ignore"}, "on_noise"),
        ({"memory_budget_gb": -1}, "memory_budget_gb"),
    ],
)
def test_settings_reject_bad_values(kwargs, message):
    with pytest.raises(ValueError, match=message):
        LatencySettings(**kwargs)


def test_settings_resolve_threads_and_fingerprint():
    resolved = LatencySettings().resolved()
    assert resolved.threads == torch.get_num_threads()
    fingerprint = LatencySettings(threads=3).fingerprint()
    assert fingerprint["threads"] == 3 and fingerprint["cpu"] == cpu_description()
    assert LatencySettings().fingerprint() != LatencySettings(seq_len=64).fingerprint()
    assert LatencySettings().fingerprint() != LatencySettings(rounds=5).fingerprint()
    # Checks and the memory budget steer the search, not a single figure: cached timings stay valid.
    relaxed = LatencySettings(max_held_out_error=0.5, on_noise="warn", memory_budget_gb=2)
    assert relaxed.fingerprint() == LatencySettings().fingerprint()
    assert relaxed.memory_budget_bytes() == 2_000_000_000 and LatencySettings().memory_budget_bytes() > 0


def test_cpu_description_names_cores():
    assert "cores" in cpu_description()


def test_available_memory_is_positive_and_below_the_machines():
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    assert 0 < available_memory_bytes() <= total


# ---- measurement ---------------------------------------------------------------------------------------
def test_random_model_has_finite_non_denormal_weights():
    model = random_model(tiny_config())
    for param in model.parameters():
        assert torch.isfinite(param).all()
        nonzero = param[param != 0].abs()
        assert (nonzero >= torch.finfo(param.dtype).tiny).all()
    assert not model.training


def test_measure_latency_records_settings_and_restores_threads():
    before = torch.get_num_threads()
    measurement = measure_latency(tiny_config(), SETTINGS)
    assert torch.get_num_threads() == before
    assert math.isfinite(measurement.median_ms) and measurement.median_ms > 0
    assert len(measurement.times_ms) == SETTINGS.repeats
    assert measurement.settings == SETTINGS
    assert measure_latency(tiny_config(), LatencySettings(repeats=1, warmup=0, seq_len=8)).settings.threads == before


# ---- predictor -----------------------------------------------------------------------------------------
ALL_FEATURES = tuple(FEATURES)


def synthetic_samples(coefficients: np.ndarray, settings: LatencySettings) -> list[LatencySample]:
    """Samples whose latency is exactly ``features @ coefficients``."""
    samples = []
    for k, (depth, heads, hidden, intermediate) in enumerate(
        [(2, 4, 256, 512), (4, 8, 512, 1024), (6, 4, 768, 768), (8, 16, 1024, 3072), (3, 12, 768, 256),
         (12, 8, 512, 2048), (10, 16, 1024, 1024), (5, 4, 384, 1536), (7, 12, 768, 3072), (9, 8, 256, 256)]
    ):
        arch = Architecture(depth, heads, hidden, intermediate)
        effective = depth * (4 * hidden * hidden + 2 * hidden * intermediate) + 1000 * k
        params, flops = effective + 30_000 * hidden, 2 * 128 * effective + 7_000_000 * k
        latency = float(feature_vector(ALL_FEATURES, arch, params, effective, flops, settings) @ coefficients)
        samples.append(LatencySample(arch, params, effective, flops, latency))
    return samples


def test_fit_recovers_known_non_negative_model():
    settings = LatencySettings(threads=2)
    truth = np.array([1.5, 2e-9, 0.3, 1e-7, 2e-8, 0.0])
    samples = synthetic_samples(truth, settings)
    predictor = LatencyPredictor(settings, ALL_FEATURES).fit(samples)
    for s in samples:
        predicted = predictor.predict(s.arch, s.params, s.effective_params, s.flops)
        assert abs(predicted - s.latency_ms) / s.latency_ms < 1e-6
    assert predictor.held_out_errors().worst < 1e-6


def test_held_out_errors_refit_without_the_point():
    settings = LatencySettings(threads=2)
    samples = synthetic_samples(np.array([1.0, 3e-9, 0.5, 0, 0, 0]), settings)
    samples[4] = LatencySample(*[getattr(samples[4], f) for f in ("arch", "params", "effective_params", "flops")],
                               latency_ms=samples[4].latency_ms * 1.5)
    predictor = LatencyPredictor(settings).fit(samples)
    outlier = samples[4]
    in_sample = abs(predictor.predict(outlier.arch, outlier.params, outlier.effective_params, outlier.flops)
                    - outlier.latency_ms) / outlier.latency_ms
    held_out = predictor.held_out_errors()
    assert len(held_out.errors) == len(samples)
    # Without the outlier the other points fit exactly, so its held-out prediction is 1 / 1.5 of its latency.
    assert held_out.errors[4] == pytest.approx(1 / 3) and held_out.errors[4] > in_sample > 0
    assert held_out.worst >= held_out.errors[4] and 0 < held_out.mean < held_out.worst


def test_predict_is_monotone_in_flops():
    settings = LatencySettings(threads=2)
    predictor = LatencyPredictor(settings).fit(synthetic_samples(np.array([1.0, 3e-9, 0.5, 0, 0, 0]), settings))
    arch = Architecture(4, 8, 512, 1024)
    predictions = [predictor.predict(arch, 10**8, 10**7, flops) for flops in np.linspace(1e8, 1e11, 20, dtype=int)]
    assert all(b >= a for a, b in zip(predictions, predictions[1:]))


def test_predictor_errors_name_the_problem():
    with pytest.raises(ValueError, match="Unknown latency feature"):
        LatencyPredictor(SETTINGS, ("constant", "bogus"))
    with pytest.raises(RuntimeError, match="before fit"):
        LatencyPredictor(SETTINGS).predict(Architecture(1, 1, 8, 8), 1, 1, 1)
    with pytest.raises(ValueError, match="at least"):
        LatencyPredictor(SETTINGS).fit([])


def test_save_load_round_trip():
    settings = LatencySettings(threads=2)
    predictor = LatencyPredictor(settings).fit(synthetic_samples(np.array([1.0, 3e-9, 0.5, 0, 0, 0]), settings))
    loaded = LatencyPredictor.from_dict(json.loads(json.dumps(predictor.to_dict())))
    assert loaded.features == predictor.features and loaded.settings == predictor.settings
    assert loaded.samples == predictor.samples
    arch = Architecture(4, 8, 512, 1024)
    assert loaded.predict(arch, 10**8, 10**7, 10**10) == predictor.predict(arch, 10**8, 10**7, 10**10)
    assert loaded.held_out_errors() == predictor.held_out_errors()


# ---- sample choice -------------------------------------------------------------------------------------
def test_choose_sample_spreads_and_includes_extremes():
    flops = [5e9, 1e9, 8e10, 3e9, 2e10, 1.2e9, 4e10, 7e9, 9e8, 6e10]
    chosen = choose_sample(flops, 4)
    assert chosen == choose_sample(flops, 4) and chosen == sorted(set(chosen)) and len(chosen) == 4
    assert flops.index(min(flops)) in chosen and flops.index(max(flops)) in chosen
    assert choose_sample(flops, 20) == list(range(len(flops)))
    with pytest.raises(ValueError, match="n >= 2"):
        choose_sample(flops, 1)


# ---- memory guard and depth extension (AB^nC) ----------------------------------------------------------
LLAMA_7B = LlamaConfig(
    hidden_size=4096, intermediate_size=11008, num_hidden_layers=32, num_attention_heads=32,
    num_key_value_heads=32, vocab_size=32000,
)


def test_random_model_refuses_a_model_over_budget_before_allocating():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(ModelTooLargeError, match=r"6607M parameters.*about 26\.\d GB, over the budget of 8\.0 GB.*memory_budget_gb"):
        random_model(LLAMA_7B, max_bytes=8_000_000_000)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 1_000_000  # KiB: under 1 GB grown
    with pytest.raises(ModelTooLargeError, match="over the budget"):
        measure_latency(tiny_config(), LatencySettings(seq_len=8, threads=1, memory_budget_gb=1e-4))


def test_extend_in_depth_is_affine_and_never_shrinks_with_depth():
    assert extend_in_depth(3.0, 5.0, 1) == 3.0 and extend_in_depth(3.0, 5.0, 2) == 5.0
    assert extend_in_depth(3.0, 5.0, 24) == 3.0 + 23 * 2.0
    assert extend_in_depth(5.0, 4.0, 10) == 5.0  # noise said a block costs less than nothing


def test_plans_time_whole_what_fits_extend_what_does_not_and_predict_the_rest():
    counter = StaticCostCounter(LLAMA_7B, seq_len=128)
    settings = LatencySettings(seq_len=128, threads=1)
    parent = counter.adapter.read(LLAMA_7B)
    small = Architecture(4, 8, 512, 1408, kv_heads=8)
    depth_2 = Architecture(2, 32, 4096, 11008, kv_heads=32)
    depth_2_bytes = estimated_bytes(depth_2, counter(depth_2).params, 1, 128)
    assert plan_measurement(small, counter, settings, depth_2_bytes).method == WHOLE
    extended = plan_measurement(parent, counter, settings, depth_2_bytes)
    assert extended.method == EXTENDED and [u.depth for u in extended.units] == [1, 2]
    assert all(u.hidden == 4096 and u.intermediate == 11008 for u in extended.units)
    assert extended.latency_ms({extended.units[0]: 10.0, extended.units[1]: 13.0}.__getitem__) == 10.0 + 31 * 3.0
    predicted = plan_measurement(parent, counter, settings, depth_2_bytes - 1)
    assert predicted.method == PREDICTED and not predicted.measurable
    with pytest.raises(ValueError, match="predicted"):
        predicted.latency_ms(lambda arch: 1.0)


def test_a_search_never_builds_over_budget_and_extends_deep_models_exactly():
    """Fake timings affine in depth (as identical blocks are): extension must reproduce them exactly."""
    counter = StaticCostCounter(tiny_config(), seq_len=16)
    archs = [Architecture(d, 4, h, i) for d in (1, 2, 3, 6, 10) for h in (32, 64, 128) for i in (64, 256, 1024)]
    parent = Architecture(12, 4, 128, 1024)
    costs = [counter(a) for a in archs]
    parent_at_2 = Architecture(2, 4, 128, 1024)
    budget = estimated_bytes(parent_at_2, counter(parent_at_2).params, 1, 16)  # the parent fits at depth 2 only
    settings = LatencySettings(seq_len=16, threads=1, memory_budget_gb=budget / 1e9)
    truth = lambda a: 0.3 + 1e-6 * counter(a).flops + 0.1 * a.depth  # what the predictor can express
    built = []

    def measure(arch):
        assert estimated_bytes(arch, counter(arch).params, 1, 16) <= settings.memory_budget_bytes(), f"{arch} built"
        built.append(arch)
        return truth(arch)

    model = LatencyModel.build(archs, costs, parent, counter(parent), settings, measure=measure, cost_of=counter,
                               samples=10, disable_progress=True)
    report = model.report()
    assert report["measured_extended"] >= 2 and report["measured_whole"] >= 4
    assert report["parent_latency_source"] == EXTENDED and model.parent_latency_ms == pytest.approx(truth(parent))
    assert parent not in built
    for k, method in model.methods.items():
        assert method in (WHOLE, EXTENDED) and model.latency_ms(k) == pytest.approx(truth(archs[k]))
    assert EXTENDED in model.methods.values()
    check = report["extension_check"]
    whole_and_deep = {str(archs[k]) for k, m in model.methods.items() if m == WHOLE and archs[k].depth > 2}
    assert check["arch"] in whole_and_deep and check["relative_error"] < 1e-9
