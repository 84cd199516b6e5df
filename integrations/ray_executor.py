"""Score candidates on a Ray cluster (``pip install 'hf-ose[ray]'``)."""

from __future__ import annotations

from typing import Any, Callable, Iterator, Sequence


def _import_ray():
    try:
        import ray
    except ImportError as error:
        raise ImportError(
            "The Ray executor needs Ray: pip install 'hf-ose[ray]' (or use LocalProcessExecutor for one machine)."
        ) from error
    return ray


class RayExecutor:
    """Scores candidates as Ray tasks. Connects to a running cluster (``address``), or starts a local one
    with ``num_cpus`` CPUs if Ray is not initialised yet. The function is put in the object store once.
    ``cpus_per_task`` reserves cores per candidate (scoring a candidate trains a model for a few steps), and
    each task runs that many PyTorch threads (at least 1), so tasks sharing a node do not oversubscribe it."""

    def __init__(self, address: str | None = None, *, num_cpus: int | None = None, cpus_per_task: float = 1) -> None:
        self._ray = _import_ray()
        if not self._ray.is_initialized():
            self._ray.init(address=address, num_cpus=num_cpus, include_dashboard=False, log_to_driver=False)
        self.cpus_per_task = cpus_per_task
        self.workers = max(1, int(self._ray.cluster_resources().get("CPU", 1) // cpus_per_task))
        self._remote = self._ray.remote(num_cpus=cpus_per_task)(_apply)
        self._function: Callable[[Any], Any] | None = None
        self._function_ref: Any = None

    def map(self, function: Callable[[Any], Any], items: Sequence[Any]) -> Iterator[Any]:
        if self._function is not function:
            self._function, self._function_ref = function, self._ray.put(function)
        threads = max(1, int(self.cpus_per_task))
        refs = [self._remote.remote(self._function_ref, item, threads) for item in items]
        return (self._ray.get(ref) for ref in refs)


def _apply(function: Callable[[Any], Any], item: Any, threads: int) -> Any:
    from hf_ose.torch_context import torch_threads

    with torch_threads(threads):
        return function(item)
