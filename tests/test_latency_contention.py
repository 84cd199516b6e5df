"""Latency on a busy machine: contention seen on the CPU costs threads, the estimator reads the lower quartile of
interleaved rounds, re-measure passes are bounded and labelled, and an interrupted search measures nothing twice.
Loads and times are faked, except in the slow tests, which hog a core or run a search."""

from __future__ import annotations

import logging
import subprocess
import sys
import warnings
from collections import namedtuple
from dataclasses import replace

import pytest
from transformers import BertConfig

from hf_ose import Objectives, OSEExtractor
from hf_ose.latency import contention, sampling
from hf_ose.latency.contention import CpuLoad, ThreadChoice, choose_threads, cpu_load
from hf_ose.latency.sampling import CachedTimingStore, RoundsMeasurer, Timing
from hf_ose.latency.settings import LatencySettings
from hf_ose.search.cache import ScoreCache
from hf_ose.torch_context import torch_threads

from .test_latency_noise import ARCHS, PARENT, SETTINGS, FakeMeasure, build, pure_noise, true_ms
from .testing_utils import slow


def must_not_watch() -> CpuLoad:
    raise AssertionError("the CPU was watched")


def must_not_measure(*args) -> float:
    raise AssertionError(f"measured again: {args}")


# ---- contention -> threads -----------------------------------------------------------------------------
@pytest.mark.parametrize("cores, default, others, threads", [
    (2, 2, 0.0, 2), (2, 2, 0.2, 2), (2, 2, 0.4, 1), (2, 2, 1.0, 1), (2, 2, 2.0, 1),
    (4, 4, 1.2, 3), (4, 4, 2.6, 1), (8, 8, 1.0, 7), (8, 2, 1.0, 2),
])
def test_each_busy_core_costs_a_thread_down_to_one(cores, default, others, threads):
    with torch_threads(default):  # PyTorch's count: what an idle machine measures with
        choice = choose_threads(LatencySettings(), load=lambda: CpuLoad(cores, others))
    assert choice.threads == threads and choice.default == default and choice.load == CpuLoad(cores, others)
    assert choice.reason == ("idle" if others <= contention.BACKGROUND_CORES else "busy")


def test_a_busy_cpu_is_named_in_one_log_line_and_the_record(caplog):
    with torch_threads(2), caplog.at_level(logging.WARNING, logger="hf_ose.latency.contention"):
        choice = choose_threads(LatencySettings(), load=lambda: CpuLoad(2, 1.04))
    assert choice == ThreadChoice(1, 2, "busy", CpuLoad(2, 1.04)) and choice.reduced
    assert [r.getMessage() for r in caplog.records] == [choice.message()]
    assert "other processes used 1.0 of its 2 cores, so latency is measured with 1 thread(s) instead of 2" in (
        caplog.text)
    assert "--threads" in caplog.text
    assert choice.to_dict() == {"threads": 1, "default": 2, "reason": "busy", "load": {"cores": 2, "others": 1.04}}


def test_threads_set_by_the_user_are_kept_without_watching_the_cpu(caplog):
    choice = choose_threads(LatencySettings(threads=2), load=must_not_watch)
    assert choice == ThreadChoice(2, 2, "as set") and not caplog.records


def test_a_resumed_search_keeps_the_thread_count_its_cached_timings_were_taken_with():
    with torch_threads(2):
        choice = choose_threads(LatencySettings(), load=must_not_watch, measured_with=lambda threads: threads == 1)
    assert choice.threads == 1 and choice.reason == "resumed"


def test_cpu_load_counts_other_processes_busy_time_not_this_ones(monkeypatch):
    """Two CPUs; in the watched second CPU 0 ran 0.9 s of others' work and 0.3 s of ours, CPU 1 stayed idle,
    and guest time (already inside user time) is not counted twice."""
    fields = namedtuple("scputimes", "user nice system idle iowait guest")
    snapshots = iter([[fields(10.0, 0, 5.0, 100.0, 1.0, 2.0), fields(3.0, 0, 1.0, 200.0, 0.0, 0.0)],
                      [fields(10.9, 0, 5.3, 100.0, 1.0, 2.5), fields(3.0, 0, 1.0, 201.0, 0.0, 0.0)]])
    own = iter([namedtuple("pcputimes", "user system")(1.0, 0.0), namedtuple("pcputimes", "user system")(1.2, 0.1)])
    clock = iter([50.0, 51.0])
    monkeypatch.setattr(contention.psutil, "cpu_times", lambda percpu: next(snapshots))
    monkeypatch.setattr(contention.psutil, "cpu_count", lambda: 2)
    monkeypatch.setattr(contention.psutil.Process, "cpu_times", lambda self: next(own))
    monkeypatch.setattr(contention.os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    monkeypatch.setattr(contention.time, "monotonic", lambda: next(clock))
    monkeypatch.setattr(contention.time, "sleep", lambda seconds: None)
    assert cpu_load() == CpuLoad(cores=2, others=0.9)


@slow
def test_a_process_busy_looping_on_a_core_is_seen():
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        load = cpu_load(1.0)
    finally:
        hog.kill()
        hog.wait()
    assert load.others >= 0.75 and load.busy_cores >= 1


# ---- the estimator -------------------------------------------------------------------------------------
def test_latency_is_the_lower_quartile_of_every_round_of_every_pass():
    assert Timing(((10.0, 1.0), (2.0, 3.0))).ms == pytest.approx(1.75)  # 1, 2, 3, 10: a quarter from 1 to 2
    assert Timing(((4.0,),)).ms == 4.0


def test_one_lucky_round_is_not_taken_for_the_latency():
    fake = FakeMeasure(lambda arch, n: 0.5 if n == 0 else 1.0)  # every model's first round twice too fast
    model = build(fake, LatencySettings(seq_len=128, threads=1, rounds=5, memory_budget_gb=1000, on_noise="raise"))
    assert model.parent_latency_ms == pytest.approx(true_ms(PARENT))
    assert all(model.latency_ms(k) == pytest.approx(true_ms(ARCHS[k])) for k in model.measured)


# ---- passes ---------------------------------------------------------------------------------------------
class RecordingBar:
    """Stands in for tqdm: records each bar's description and how far it got."""

    bars: list[list] = []

    def __init__(self, total, desc, disable):
        self.record = [desc, total, 0]
        RecordingBar.bars.append(self.record)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def update(self, n=1):
        self.record[2] += n


def test_re_measure_passes_are_bounded_and_labelled_in_the_progress_bar(monkeypatch):
    monkeypatch.setattr(sampling, "tqdm", RecordingBar)
    RecordingBar.bars = []
    fake = pure_noise(0)
    with pytest.warns(UserWarning, match="look like noise"):
        build(fake, LatencySettings(seq_len=128, threads=1, memory_budget_gb=1000))  # warns: the default
    assert [desc for desc, _, _ in RecordingBar.bars] == [
        "latency: measure", "latency: re-measure pass 2/3", "latency: re-measure pass 3/3"]
    assert all(total == done for _, total, done in RecordingBar.bars)
    assert max(fake.calls.count(a) for a in set(fake.calls)) == 3 * SETTINGS.rounds


def test_add_pass_never_goes_past_the_last_pass():
    fake = FakeMeasure()
    measurer = RoundsMeasurer(fake, rounds=2, disable_progress=True, max_passes=2)
    measurer.ensure([PARENT])
    measurer.add_pass([PARENT])
    measurer.add_pass([PARENT])
    assert measurer.passes(PARENT) == 2 and len(fake.calls) == 4


# ---- interruptions ---------------------------------------------------------------------------------------
class Interrupted(Exception):
    """Stands in for Ctrl-C."""


def interrupt_after(calls: int, fake: FakeMeasure):
    def measure(arch):
        if len(fake.calls) == calls:
            raise Interrupted
        return fake(arch)

    return measure


def test_every_round_is_cached_at_once_so_an_interrupted_pass_resumes_where_it_stopped(tmp_path):
    archs = [ARCHS[0], ARCHS[20], ARCHS[40], PARENT]
    fingerprint = SETTINGS.fingerprint()

    def measurer(measure, folder=tmp_path):
        return RoundsMeasurer(measure, 3, CachedTimingStore(ScoreCache(folder, {"parent": "p"}), fingerprint),
                              disable_progress=True)

    first = FakeMeasure(lambda arch, n: 1.0 + n)  # each round of a model slower than the one before
    with pytest.raises(Interrupted):
        measurer(interrupt_after(6, first)).ensure(archs)  # killed in round 2, two models into it
    resumed = FakeMeasure(lambda arch, n: 1.0 + n + first.calls.count(arch))
    again = measurer(resumed)  # a new process: the cache read from disk
    again.ensure(archs)
    assert len(resumed.calls) == 3 * len(archs) - 6
    assert [resumed.calls.count(a) for a in archs] == [2, 2, 1, 1]  # round 2 had reached the last two
    uninterrupted = measurer(FakeMeasure(lambda arch, n: 1.0 + n), tmp_path / "whole")
    uninterrupted.ensure(archs)
    for arch in archs:
        assert again.timing(arch) == uninterrupted.timing(arch) == Timing(((true_ms(arch), 2 * true_ms(arch),
                                                                            3 * true_ms(arch)),))
    measurer(must_not_measure).ensure(archs)  # complete: nothing is measured a third time


def test_an_interrupted_re_measure_pass_is_finished_not_repeated(tmp_path):
    def store():
        return CachedTimingStore(ScoreCache(tmp_path, {"parent": "p"}), SETTINGS.fingerprint())

    noisy = pure_noise(1)
    with pytest.raises(Interrupted):
        build(interrupt_after(3 * 9 + 5, noisy), store=store())  # 9 models' first pass, then 5 re-measures
    assert sorted(store().get(a).passes for a in set(noisy.calls)) == [1] * 4 + [2] * 5
    rest = pure_noise(2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # whatever the verdict on pure noise: the passes are what is checked
        build(rest, store=store(), settings=replace(SETTINGS, on_noise="warn"))
    # Each model ends with whole passes, 3 at most: the open one was finished, not begun again or left open.
    assert all(len(rounds) == SETTINGS.rounds for a in set(noisy.calls) for rounds in store().get(a).rounds_ms)
    assert all(noisy.calls.count(a) + rest.calls.count(a) == store().get(a).passes * SETTINGS.rounds <= 9
               for a in set(noisy.calls))


# ---- in a search ---------------------------------------------------------------------------------------
def tiny_search(cache_dir):
    parent = BertConfig(vocab_size=100, hidden_size=64, num_hidden_layers=4, num_attention_heads=4,
                        intermediate_size=128, max_position_embeddings=64)
    latency = LatencySettings(seq_len=16, warmup=0, repeats=1, rounds=2)
    return OSEExtractor(parent, space={"depth": [1, 2, 3, 4], "hidden": [32, 64], "intermediate": [64, 128]},
                        objectives=Objectives(latency=latency, latency_samples=4), cache_dir=cache_dir)


@slow
def test_a_search_on_a_busy_cpu_measures_with_fewer_threads_and_resumes_with_them(tmp_path, monkeypatch):
    monkeypatch.setattr(contention, "cpu_load", lambda: CpuLoad(2, 1.0))
    with torch_threads(2):
        front = tiny_search(tmp_path).extract(progress=False)
        latency = front.record.latency
        assert latency["threads"] == 1 and latency["threads_choice"]["reason"] == "busy"
        assert latency["threads_choice"]["load"] == {"cores": 2, "others": 1.0}
        # Run again on an idle CPU: the cached timings were taken with 1 thread, so they are reused, not retaken.
        monkeypatch.setattr(contention, "cpu_load", must_not_watch)
        monkeypatch.setattr("hf_ose.extractor.measure_latency", must_not_measure)
        again = tiny_search(tmp_path).extract(progress=False)
    assert again.record.latency["threads_choice"]["reason"] == "resumed" and again.record.latency["threads"] == 1
    assert [p.latency_ms for p in again] == [p.latency_ms for p in front]
