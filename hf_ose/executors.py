"""Where candidate scoring runs: in this process (default) or a local process pool.

An executor maps one function (an error objective) over candidate configs and yields the results in input
order, each as soon as it and those before it are done, so the search can record every score as it arrives.
The function is shipped to each worker once, not once per candidate. A Ray cluster executor lives in
``hf_ose.integrations.ray_executor``.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from typing import Any, Callable, Iterator, Protocol, Sequence, runtime_checkable


@runtime_checkable
class Executor(Protocol):
    """Runs ``function`` over ``items``, yielding results in input order."""

    workers: int

    def map(self, function: Callable[[Any], Any], items: Sequence[Any]) -> Iterator[Any]: ...


class InProcessExecutor:
    """Scores candidates one after another in this process."""

    workers = 1

    def map(self, function: Callable[[Any], Any], items: Sequence[Any]) -> Iterator[Any]:
        return (function(item) for item in items)


_worker_function: Callable[[Any], Any] | None = None


def _install(function: Callable[[Any], Any]) -> None:
    global _worker_function
    _worker_function = function


def _call(item: Any) -> Any:
    assert _worker_function is not None, "worker started without a function"
    return _worker_function(item)


class LocalProcessExecutor:
    """Scores candidates in a pool of ``workers`` local processes (spawned, so no thread state is forked).

    The pool is kept for as long as the same function is mapped; ``close()`` (or leaving a ``with`` block)
    shuts it down. Give each worker ``torch.set_num_threads`` inside the function if cores are scarce.
    """

    def __init__(self, workers: int = 2) -> None:
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}.")
        self.workers = workers
        self._pool: ProcessPoolExecutor | None = None
        self._function: Callable[[Any], Any] | None = None

    def map(self, function: Callable[[Any], Any], items: Sequence[Any]) -> Iterator[Any]:
        if self._pool is None or self._function is not function:
            self.close()
            self._pool = ProcessPoolExecutor(
                max_workers=self.workers, mp_context=multiprocessing.get_context("spawn"),
                initializer=_install, initargs=(function,),
            )
            self._function = function
        return self._pool.map(_call, items)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()
            self._pool, self._function = None, None

    def __enter__(self) -> "LocalProcessExecutor":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
