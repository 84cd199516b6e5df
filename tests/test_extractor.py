import json
import subprocess
import sys
from pathlib import Path

import pytest
from transformers import AutoConfig, AutoModel

from hf_ose import Architecture, LatencySettings, Objectives, OSEExtractor, ParetoFront
from hf_ose.exceptions import CacheMismatchError
from hf_ose.objectives.error import DataFreePrior
from hf_ose.search.cache import CACHE_FILE

from .objectives_for_tests import RecordingPrior
from .testing_utils import slow

GRID = {"depth": [1, 2, 3, 4, 5, 6], "hidden": [192, 384], "intermediate": [768, 1536]}
FAST_LATENCY = LatencySettings(seq_len=32, warmup=1, repeats=3, on_noise="warn")  # the test CPU is shared


def extractor(parent, cache_dir=None, error=None, epsilon=0.2, grid=GRID):
    objectives = Objectives(error=error, latency=FAST_LATENCY, latency_samples=6)
    return OSEExtractor(parent, space=grid, epsilon=epsilon, objectives=objectives, cache_dir=cache_dir)


@pytest.fixture(scope="module")
def reference(minilm_path, tmp_path_factory):
    """One uninterrupted search on the real parent, with its cache."""
    cache = tmp_path_factory.mktemp("reference-cache")
    with pytest.warns(UserWarning, match="AB.nC property does not hold"):
        front = extractor(minilm_path, cache).extract(progress=False)
    return front, cache


def test_front_points_are_real_variants_of_the_parent(reference, minilm_path):
    front, _ = reference
    parent = AutoConfig.from_pretrained(minilm_path)
    assert 0 < len(front) <= 24 and front.record.candidates == 24
    for point in front:
        assert point.config.model_type == parent.model_type == "bert"
        model = AutoModel.from_config(point.config)
        assert point.params == sum(p.numel() for p in model.parameters())
        assert point.latency_ms > 0 and point.error_source.startswith("prior: ")
        assert point.latency_source in ("measured", "predicted")
    # Mutually non-dominated over (params, latency, error).
    for a in front:
        for b in front:
            assert a is b or not (b.params <= a.params and b.latency_ms <= a.latency_ms and b.error < a.error)
    record = front.record
    assert record.evaluations <= record.evaluation_bound <= 24 and record.settings.error_is_prior
    assert record.latency["measured"] == 6 and record.latency["seq_len"] == 32
    assert record.abnc.holds is False  # the real parent's vocabulary outweighs its blocks
    assert record.settings.epsilon == 0.2 and record.settings.latency_samples == 6
    assert record.parent.architecture == Architecture(6, 12, 384, 1536) and record.parent.params == front.reference.params


def test_w_best_maximises_bort_w_coefficient(reference):
    front, _ = reference
    best = front.best("w")
    t = front.reference
    w = lambda p: (t.params - p.params) / t.params * (t.latency_ms - p.latency_ms) / t.latency_ms / p.error
    assert w(best) == max(w(p) for p in front) > 0
    with pytest.raises(ValueError, match="Unknown criterion"):
        front.best("accuracy")


def test_front_round_trips_through_json_csv_pandas_png_and_config_folders(reference, tmp_path):
    front, _ = reference
    front.to_json(tmp_path / "front.json")
    again = ParetoFront.from_json(tmp_path / "front.json")
    assert [p.row() for p in again] == [p.row() for p in front]
    assert again.record == front.record and again.reference == front.reference
    assert [c.to_dict() for c in again.configs] == [c.to_dict() for c in front.configs]
    front.to_csv(tmp_path / "front.csv")
    assert len((tmp_path / "front.csv").read_text().splitlines()) == len(front) + 1
    assert len(front.to_pandas()) == len(front)
    front.plot(tmp_path / "front.png")
    assert (tmp_path / "front.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    folders = front.save_pretrained(tmp_path / "configs")
    assert len(folders) == len(front)
    without_path = lambda config: {k: v for k, v in config.to_dict().items() if k != "_name_or_path"}
    for folder, point in zip(folders, front):
        assert without_path(AutoConfig.from_pretrained(folder)) == without_path(point.config)


def test_rerunning_the_same_search_reuses_the_cache(reference, minilm_path):
    front, cache = reference
    recorder = RecordingPrior()
    again = extractor(minilm_path, cache, error=recorder).extract(progress=False)
    assert recorder.evaluated == []
    assert again.record.cached_evaluations == front.record.evaluations
    assert [p.row() for p in again] == [p.row() for p in front]


@slow
def test_a_killed_search_resumes_without_repeating_work(reference, minilm_path, tmp_path):
    front, reference_cache = reference
    # Start from the reference run's latency measurements only, so both runs see the same latencies.
    lines = (reference_cache / CACHE_FILE).read_text().splitlines()
    (tmp_path / CACHE_FILE).write_text("\n".join([lines[0]] + [l for l in lines[1:] if json.loads(l)["kind"] == "latency"]) + "\n")
    script = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "from tests.objectives_for_tests import RecordingPrior;"
        "from tests.test_extractor import extractor;"
        "extractor(sys.argv[2], sys.argv[3], error=RecordingPrior(die_after=3)).extract(progress=False)"
    )
    root = Path(__file__).resolve().parents[1]
    killed = subprocess.run([sys.executable, "-c", script, str(root), str(minilm_path), str(tmp_path)], capture_output=True)
    assert killed.returncode == 17, killed.stderr.decode()[-2000:]
    finished = [Architecture.from_dict(json.loads(l)["arch"]) for l in (tmp_path / CACHE_FILE).read_text().splitlines()[1:]
                if json.loads(l)["kind"] == "error"]
    assert len(finished) == 3
    recorder = RecordingPrior()
    resumed = extractor(minilm_path, tmp_path, error=recorder).extract(progress=False)
    assert not set(recorder.evaluated) & set(finished)
    assert len(recorder.evaluated) + 3 == front.record.evaluations
    assert [p.row() for p in resumed] == [p.row() for p in front]


def test_a_cache_from_a_different_parent_is_refused(reference):
    _, cache = reference
    with pytest.raises(CacheMismatchError, match="different search"):
        extractor("bert-base-uncased", cache, grid={"depth": [1], "hidden": [768], "intermediate": [3072]})


@pytest.mark.parametrize("epsilon", [0, 1.01, -1])
def test_epsilon_outside_the_unit_interval_is_refused(epsilon):
    with pytest.raises(ValueError, match=r"epsilon must be in \(0, 1\]"):
        OSEExtractor("bert-base-uncased", epsilon=epsilon)


@pytest.mark.parametrize("epsilon", ["0.1", None, True])
def test_epsilon_that_is_not_a_number_is_refused(epsilon):
    with pytest.raises(ValueError, match=r"epsilon must be a number, got .* such as epsilon=0.1"):
        OSEExtractor("bert-base-uncased", epsilon=epsilon)


@slow
def test_the_parents_own_error_is_recorded_outside_the_search_count(reference, minilm_path):
    front, _ = reference
    parent = AutoConfig.from_pretrained(minilm_path)
    assert front.reference.error == pytest.approx(DataFreePrior()(parent))
    assert all(point.error > front.reference.error for point in front if point.params < front.reference.params)
    # A grid without the parent: its error is one evaluation more than the search spends.
    recorder = RecordingPrior()
    small = extractor(minilm_path, error=recorder, grid={"depth": [1, 2, 3], "hidden": [192], "intermediate": [768, 1536]})
    other = small.extract(progress=False)
    assert recorder.evaluated[-1] == Architecture(6, 12, 384, 1536)
    assert len(recorder.evaluated) == other.record.evaluations + 1
    assert other.reference.error == front.reference.error


@slow
def test_non_finite_errors_are_reported_and_the_search_goes_on(minilm_path):
    def unstable(config):
        return float("nan") if config.num_hidden_layers == 6 else 1.0 / config.num_hidden_layers

    front = extractor(minilm_path, error=unstable, epsilon=0.01).extract(progress=False)
    assert front.record.failed and all(arch.startswith("D=6") for arch in front.record.failed)
    assert front.reference.error is None  # the parent (D=6) failed too: error budgets are unavailable
    assert front.points and all(p.architecture.depth < 6 for p in front)


@slow
def test_the_interval_strategy_is_offered_for_comparison(minilm_path):
    objectives = Objectives(latency=FAST_LATENCY, latency_samples=6)
    ex = OSEExtractor(minilm_path, space=GRID, epsilon=0.25, objectives=objectives, strategy="interval")
    front = ex.extract(progress=False)
    assert front.record.evaluations == 4 and front.record.settings.strategy == "interval"


@slow
def test_a_non_monotone_error_is_reported_with_a_warning(minilm_path):
    def deeper_is_worse(config):
        return float(config.num_hidden_layers)

    with pytest.warns(UserWarning, match="violate the monotonicity"):
        front = extractor(minilm_path, error=deeper_is_worse, epsilon=0.01).extract(progress=False)
    assert front.record.monotonicity.violations
