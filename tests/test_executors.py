import os
import subprocess
import sys
import textwrap

import pytest
import torch

from hf_ose import LatencySettings, Objectives, OSEExtractor
from hf_ose.executors import InProcessExecutor, LocalProcessExecutor, WorkerError
from hf_ose.torch_context import torch_threads
from .testing_utils import slow

GRID = {"depth": [1, 2, 3, 4], "hidden": [256, 512, 768], "intermediate": [1024, 3072]}


def front_rows(executor, cache_dir):
    # latency noise is beside the point here (a busy machine must not fail an executor test)
    settings = LatencySettings(seq_len=16, warmup=1, repeats=3, on_noise="warn")
    objectives = Objectives(latency=settings, latency_samples=4)
    extractor = OSEExtractor("bert-base-uncased", space=GRID, epsilon=0.05, objectives=objectives,
                             cache_dir=cache_dir, executor=executor, batch_size=2)
    front = extractor.extract(progress=False)
    return [p.row() for p in front], front.record.evaluations


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


@slow
def test_a_local_process_pool_gives_the_same_front(in_process, tmp_path):
    rows, evaluations, cache = in_process
    with LocalProcessExecutor(workers=2) as pool:
        assert front_rows(pool, latency_only_copy(cache, tmp_path / "pool")) == (rows, evaluations)


@slow
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


def threads_in_worker(_: object) -> int:
    return torch.get_num_threads()


def exit_abruptly(_: object) -> None:
    os._exit(1)


@slow
@pytest.mark.parametrize("parent_threads, requested, expected", [(6, None, 3), (1, 5, 5)])
def test_workers_split_the_parents_threads_unless_told(parent_threads, requested, expected):
    with torch_threads(parent_threads):
        executor = LocalProcessExecutor(workers=2, threads_per_worker=requested)
    with executor:
        assert executor.threads_per_worker == expected
        assert list(executor.map(threads_in_worker, range(4))) == [expected] * 4


@slow
def test_a_worker_that_dies_raises_instead_of_hanging():
    with LocalProcessExecutor(workers=1) as executor:
        with pytest.raises(WorkerError, match="died before returning a result"):
            list(executor.map(exit_abruptly, [1, 2]))


def test_a_function_workers_cannot_receive_is_refused_with_the_fix():
    with LocalProcessExecutor(workers=1) as executor:
        with pytest.raises(WorkerError, match="Define it at module level"):
            executor.map(lambda config: 0.0, [1])


# A script as users write one: an objective object that is large when pickled (as a surrogate holding a parent is).
SCRIPT = """
from hf_ose.executors import LocalProcessExecutor

class Objective:
    def __init__(self):
        self.weights = bytes(10_000_000)
    def __call__(self, x):
        return 2 * x
"""


def run_script(tmp_path, body: str) -> subprocess.CompletedProcess:
    script = tmp_path / "script.py"
    script.write_text(SCRIPT + textwrap.dedent(body))
    try:
        return subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    except subprocess.TimeoutExpired:
        pytest.fail("the script hung: a failing worker pool must raise, not wait")


@slow
def test_a_script_without_the_main_guard_fails_fast_naming_the_guard(tmp_path):
    result = run_script(tmp_path, "print(list(LocalProcessExecutor(workers=2).map(Objective(), [1, 2, 3])))\n")
    assert result.returncode != 0
    assert "WorkerError" in result.stderr and 'under `if __name__ == "__main__":`' in result.stderr
    call_line = len(SCRIPT.splitlines()) + 1
    assert f"script.py (line {call_line})" in result.stderr
    assert "bootstrapping" not in result.stderr  # refused before any worker started


@slow
def test_a_script_with_the_main_guard_runs(tmp_path):
    result = run_script(tmp_path, """
        if __name__ == "__main__":
            with LocalProcessExecutor(workers=2) as pool:
                print(list(pool.map(Objective(), [1, 2, 3])))
        """)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[2, 4, 6]"


@slow
def test_a_worker_dying_while_it_starts_is_reported_not_waited_for(tmp_path):
    # The worker re-imports the script and dies there, before reading its start-up data (10 MB here).
    result = run_script(tmp_path, """
        if __name__ == "__mp_main__":
            raise SystemExit(3)
        if __name__ == "__main__":
            print(list(LocalProcessExecutor(workers=2).map(Objective(), [1, 2, 3])))
        """)
    assert result.returncode != 0
    assert "WorkerError" in result.stderr and "died before returning a result" in result.stderr
    assert 'if __name__ == "__main__":' in result.stderr
