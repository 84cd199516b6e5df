import sys

import pytest

from hf_ose import LatencySettings, Objectives, OSEExtractor
from hf_ose.executors import InProcessExecutor, LocalProcessExecutor

GRID = {"depth": [1, 2, 3, 4], "hidden": [256, 512, 768], "intermediate": [1024, 3072]}


def front_rows(executor, cache_dir):
    objectives = Objectives(latency=LatencySettings(seq_len=16, warmup=1, repeats=3), latency_samples=4)
    extractor = OSEExtractor("bert-base-uncased", space=GRID, epsilon=0.05, objectives=objectives,
                             cache_dir=cache_dir, executor=executor, batch_size=2)
    front = extractor.extract(progress=False)
    return [p.row() for p in front], front.info["evaluations"]


@pytest.fixture(scope="module")
def in_process(tmp_path_factory):
    cache = tmp_path_factory.mktemp("in-process")
    rows, evaluations = front_rows(InProcessExecutor(), cache)
    return rows, evaluations, cache


def latency_only_copy(cache, target):
    """The reference cache's latency measurements alone, so every executor sees the same latencies."""
    import json

    lines = (cache / "scores.jsonl").read_text().splitlines()
    target.mkdir(exist_ok=True)
    (target / "scores.jsonl").write_text(
        "\n".join([lines[0]] + [l for l in lines[1:] if json.loads(l)["kind"] == "latency"]) + "\n"
    )
    return target


def test_a_local_process_pool_gives_the_same_front(in_process, tmp_path):
    rows, evaluations, cache = in_process
    with LocalProcessExecutor(workers=2) as pool:
        assert front_rows(pool, latency_only_copy(cache, tmp_path / "pool")) == (rows, evaluations)


@pytest.mark.slow
def test_a_real_local_ray_cluster_gives_the_same_front(in_process, tmp_path):
    ray = pytest.importorskip("ray", reason="pip install 'hf-ose[ray]'")
    from hf_ose.integrations.ray_executor import RayExecutor

    rows, evaluations, cache = in_process
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        executor = RayExecutor()
        assert executor.workers == 2
        assert front_rows(executor, latency_only_copy(cache, tmp_path / "ray")) == (rows, evaluations)
    finally:
        ray.shutdown()


def test_ray_requested_but_not_installed_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    from hf_ose.integrations.ray_executor import RayExecutor

    with pytest.raises(ImportError, match=r"pip install 'hf-ose\[ray\]'"):
        RayExecutor()
