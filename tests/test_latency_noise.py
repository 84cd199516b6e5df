"""Latency sampling on a noisy machine: interleaved rounds, re-measured outliers, the parent check, the noise
verdict, and timings that survive a resumed search. Times come from deterministic fake measurements."""

from __future__ import annotations

import math
import random

import pytest

from hf_ose.architecture import Architecture
from hf_ose.objectives.counting import StaticCost
from hf_ose.latency.model import MAX_PASSES, LatencyModel, LatencyNoiseError
from hf_ose.latency.sampling import CachedTimingStore, MemoryTimingStore, Timing
from hf_ose.latency.settings import LatencySettings
from hf_ose.search.cache import ScoreCache

SEQ = 128
ARCHS = [Architecture(d, h // 64, h, i) for d in (1, 2, 4, 6, 8, 12) for h in (256, 512, 768) for i in (512, 1024, 3072)]
PARENT = Architecture(24, 16, 1024, 4096)
SETTINGS = LatencySettings(seq_len=SEQ, threads=1, rounds=3, memory_budget_gb=1000, on_noise="raise")  # strict
SAMPLES = 8


def cost(arch: Architecture) -> StaticCost:
    block = 4 * arch.hidden**2 + 2 * arch.hidden * arch.intermediate
    effective = arch.depth * block
    return StaticCost(effective + 1000 * arch.hidden, effective, 2 * SEQ * effective)


def true_ms(arch: Architecture) -> float:
    """Exactly what the predictor's features (constant, FLOPs, depth) can express."""
    return 0.5 + 2e-9 * cost(arch).flops + 0.1 * arch.depth


class FakeMeasure:
    """Returns ``true_ms`` times ``factor(arch, n)`` for the n-th call on ``arch``; records every call."""

    def __init__(self, factor=lambda arch, n: 1.0) -> None:
        self.factor = factor
        self.calls: list[Architecture] = []

    def __call__(self, arch: Architecture) -> float:
        n = self.calls.count(arch)
        self.calls.append(arch)
        return true_ms(arch) * self.factor(arch, n)


def build(measure, settings: LatencySettings = SETTINGS, store=None) -> LatencyModel:
    return LatencyModel.build(
        ARCHS, [cost(a) for a in ARCHS], PARENT, cost(PARENT), settings,
        measure=measure, cost_of=cost, samples=SAMPLES, store=store, disable_progress=True,
    )


def test_rounds_interleave_every_sampled_model_and_the_fit_is_exact_on_clean_times():
    fake = FakeMeasure()
    model = build(fake)
    targets = list(dict.fromkeys(fake.calls))
    assert len(targets) == SAMPLES + 1 and PARENT in targets
    first, second, third = (fake.calls[r * len(targets):(r + 1) * len(targets)] for r in range(3))
    assert first == targets and second == targets[::-1] and third == targets  # each round times each model once
    assert len(fake.calls) == SETTINGS.rounds * len(targets)
    report = model.report()
    assert report["remeasured"] == [] and report["noise"] is None and report["rounds"] == 3
    assert report["held_out_mean_relative_error"] < 1e-6 and report["parent_check"]["relative_error"] < 1e-6
    assert model.parent_latency_ms == pytest.approx(true_ms(PARENT))
    assert len(model.measured) == SAMPLES and set(model.methods.values()) == {"measured"}
    for k, arch in enumerate(ARCHS):
        assert model.latency_ms(k) == pytest.approx(true_ms(arch), rel=1e-6)
        assert model.source(k) == ("measured" if k in model.measured else "predicted")


def test_a_burst_in_one_round_is_dropped_without_measuring_again():
    burst = FakeMeasure(lambda arch, n: 40.0 if n == 1 else 1.0)  # every model slowed in round 2
    model = build(burst)
    assert model.report()["remeasured"] == [] and model.parent_latency_ms == pytest.approx(true_ms(PARENT))


def test_a_wild_outlier_is_re_measured_and_its_fastest_pass_kept():
    # The parent runs 30x slow throughout its first pass (every round), then normally: 892 ms instead of 28 ms.
    fake = FakeMeasure(lambda arch, n: 30.0 if arch == PARENT and n < SETTINGS.rounds else 1.0)
    model = build(fake)
    report = model.report()
    assert report["remeasured"] == [str(PARENT)]
    assert fake.calls.count(PARENT) == 2 * SETTINGS.rounds
    assert all(fake.calls.count(a) == SETTINGS.rounds for a in set(fake.calls) - {PARENT})
    assert model.parent_latency_ms == pytest.approx(true_ms(PARENT))
    assert report["noise"] is None and report["held_out_mean_relative_error"] < 1e-6


def test_an_outlier_that_stays_is_caught_with_the_parent_check():
    fake = FakeMeasure(lambda arch, n: 30.0 if arch == PARENT else 1.0)
    with pytest.raises(LatencyNoiseError, match=r"the parent measured [\d.]+ ms where the other measured .* imply"):
        build(fake)
    assert fake.calls.count(PARENT) == MAX_PASSES * SETTINGS.rounds


def pure_noise(seed: int):
    rng = random.Random(seed)
    return FakeMeasure(lambda arch, n: math.exp(rng.gauss(0.0, 1.0)))


def test_pure_noise_is_measured_again_then_refused_in_a_strict_run():
    fake = pure_noise(0)
    with pytest.raises(LatencyNoiseError, match=r"held-out error is \d+\.\d% on average .*limit 25%.*on_noise='warn'"):
        build(fake)
    assert all(fake.calls.count(a) == MAX_PASSES * SETTINGS.rounds for a in set(fake.calls))


def test_pure_noise_warns_by_default_and_the_front_says_so():
    with pytest.warns(UserWarning, match="Latency measurements look like noise"):
        model = build(pure_noise(0), LatencySettings(seq_len=SEQ, threads=1, memory_budget_gb=1000))
    report = model.report()
    assert report["noise"].startswith("Latency measurements look like noise")
    assert report["held_out_mean_relative_error"] > 0.25
    assert len(model.measured) + len(model.predicted) == len(ARCHS)


def test_a_resumed_build_reuses_every_timing_including_re_measured_ones():
    store = MemoryTimingStore()
    first = build(FakeMeasure(lambda arch, n: 30.0 if arch == PARENT and n < SETTINGS.rounds else 1.0), store=store)

    def must_not_measure(arch):
        raise AssertionError(f"{arch} was measured again")

    again = build(must_not_measure, store=store)
    assert again.measured == first.measured and again.predicted == first.predicted
    assert again.parent_latency_ms == first.parent_latency_ms and store.get(PARENT).passes == 2
    assert again.report()["remeasured"] == []  # nothing left to re-measure: the stored state is final


def test_timings_persist_in_the_search_cache(tmp_path):
    fingerprint = SETTINGS.fingerprint()
    timing = Timing(((3.0, 2.5, 2.75), (2.0, 4.0, 2.25)))
    CachedTimingStore(ScoreCache(tmp_path, {"parent": "p"}), fingerprint).put(PARENT, timing)
    reopened = ScoreCache(tmp_path, {"parent": "p"})
    loaded = CachedTimingStore(reopened, fingerprint).get(PARENT)
    # The lower quartile of the six rounds [2.0, 2.25, 2.5, 2.75, 3.0, 4.0]: a quarter of the way from 2.25 to 2.5.
    assert loaded == timing and loaded.ms == pytest.approx(2.3125) and loaded.passes == 2
    assert reopened.get("latency", fingerprint, PARENT)["value"] == pytest.approx(2.3125)
    # A latency record without its rounds (an older cache) is measured again, not trusted.
    reopened.put("latency", fingerprint, ARCHS[0], 1.0)
    assert CachedTimingStore(reopened, fingerprint).get(ARCHS[0]) is None
    assert CachedTimingStore(reopened, LatencySettings(seq_len=64, threads=1).fingerprint()).get(PARENT) is None


def alternating(amplitude: float) -> FakeMeasure:
    """Each architecture measured ``amplitude`` too slow or too fast, by a fixed parity: noise no re-measure fixes."""
    return FakeMeasure(lambda arch, n: 1.0 + amplitude * (
        1 if (arch.depth + arch.hidden // 256 + arch.intermediate // 512) % 2 else -1))


def test_a_rough_predictor_under_the_noise_limit_is_named_in_a_warning():
    with pytest.warns(UserWarning, match=r"predictor's held-out error is 1\d\.\d% on average .*over 10%"):
        model = build(alternating(0.10))
    report = model.report()
    assert report["noise"] is None and 0.10 < report["held_out_mean_relative_error"] < 0.25
    assert report["predictor_warning"].startswith("The latency predictor's held-out error")


def test_a_close_predictor_gets_no_warning():
    model = build(alternating(0.02))
    assert model.report()["predictor_warning"] is None
