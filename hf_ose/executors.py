"""Where candidate scoring runs: in this process (default) or a local process pool.

An executor maps one function (an error objective) over candidate configs and yields the results in input
order, each as soon as it and those before it are done, so the search can record every score as it arrives.
The function is shipped to each worker once, not once per candidate. A Ray cluster executor lives in
``hf_ose.integrations.ray_executor``.
"""

from __future__ import annotations

import ast
import multiprocessing
import os
import pickle
import sys
import tempfile
import weakref
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from types import FrameType
from typing import Any, Callable, Iterator, Protocol, Sequence, runtime_checkable

import torch

from .exceptions import HfOseError

MAIN_GUARD_FIX = (
    'put the code that starts the search under `if __name__ == "__main__":` in your script '
    "(spawned workers re-run the main script's top level, which would start the search again in every worker)"
)


class WorkerError(HfOseError, RuntimeError):
    """A worker process could not be started, could not receive the function, or died."""


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


def _install(function_file: str, threads: int) -> None:
    """Worker initializer: split the cores, then load the function (from a file, so that the spawn payload
    stays small: a large payload blocks the parent for ever when a worker dies while starting)."""
    global _worker_function
    torch.set_num_threads(threads)
    _worker_function = pickle.loads(Path(function_file).read_bytes())


def _call(item: Any) -> Any:
    assert _worker_function is not None, "worker started without a function"
    return _worker_function(item)


class LocalProcessExecutor:
    """Scores candidates in a pool of ``workers`` local processes (spawned, so no thread state is forked).

    Each worker runs ``threads_per_worker`` PyTorch threads (default: this process's thread count split
    between the workers, at least 1), so the pool does not oversubscribe the cores. Workers re-import the
    main script: code that starts a search with this executor must sit under ``if __name__ == "__main__":``,
    and is refused with a :class:`WorkerError` otherwise. A worker that dies raises :class:`WorkerError`.
    The pool is kept for as long as the same function is mapped; ``close()`` (or leaving a ``with`` block)
    shuts it down.
    """

    def __init__(self, workers: int = 2, *, threads_per_worker: int | None = None) -> None:
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}.")
        if threads_per_worker is not None and threads_per_worker < 1:
            raise ValueError(f"threads_per_worker must be at least 1, got {threads_per_worker}.")
        self.workers = workers
        self.threads_per_worker = threads_per_worker or max(1, torch.get_num_threads() // workers)
        self._pool: ProcessPoolExecutor | None = None
        self._function: Callable[[Any], Any] | None = None
        self._function_file: weakref.finalize | None = None

    def map(self, function: Callable[[Any], Any], items: Sequence[Any]) -> Iterator[Any]:
        pool = self._pool_for(function)
        try:
            results = pool.map(_call, items)
        except BrokenProcessPool as error:
            self._shut_down(wait=False)
            raise WorkerError(_died_message(self.workers)) from error
        return self._surfacing(results)

    def close(self) -> None:
        """Shut the pool down and delete the function's file."""
        self._shut_down(wait=True)

    def _shut_down(self, wait: bool) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=wait, cancel_futures=True)
            self._pool, self._function = None, None
        if self._function_file is not None:
            self._function_file()
            self._function_file = None

    def __enter__(self) -> "LocalProcessExecutor":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _pool_for(self, function: Callable[[Any], Any]) -> ProcessPoolExecutor:
        if self._pool is not None and self._function is function:
            return self._pool
        self.close()
        check_main_guard()
        try:
            payload = pickle.dumps(function, protocol=pickle.HIGHEST_PROTOCOL)
        except (pickle.PicklingError, AttributeError, TypeError) as error:
            raise WorkerError(
                f"The function cannot be sent to worker processes ({error}). Define it at module level "
                "(not a lambda or a local function), or score in this process with InProcessExecutor."
            ) from error
        descriptor, path = tempfile.mkstemp(prefix="hf-ose-worker-", suffix=".pkl")
        self._function_file = weakref.finalize(self, Path(path).unlink, missing_ok=True)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(payload)
        self._pool = ProcessPoolExecutor(
            max_workers=self.workers, mp_context=multiprocessing.get_context("spawn"),
            initializer=_install, initargs=(path, self.threads_per_worker),
        )
        self._function = function
        return self._pool

    def _surfacing(self, results: Iterator[Any]) -> Iterator[Any]:
        try:
            yield from results
        except BrokenProcessPool as error:
            self._shut_down(wait=False)
            raise WorkerError(_died_message(self.workers)) from error


def _died_message(workers: int) -> str:
    return (
        f"A worker process of LocalProcessExecutor(workers={workers}) died before returning a result. "
        f"If it died while starting, the usual cause is a script without the main guard: {MAIN_GUARD_FIX}. "
        "Otherwise it was killed (out of memory? use fewer workers) or crashed in native code (its error is "
        "printed above)."
    )


def check_main_guard() -> None:
    """Refuse to start workers from the top level of a main script outside ``if __name__ == "__main__":``.

    Spawned workers re-run that top level: each would start the search again and die in Python's
    bootstrapping error, after repeating all the work that came before the pool.
    """
    main = sys.modules.get("__main__")
    main_file = getattr(main, "__file__", None)
    spec_name = getattr(getattr(main, "__spec__", None), "name", None) or ""
    if main_file is None or spec_name.endswith("__main__"):  # not re-run by workers (a REPL, a package's __main__)
        return
    frame = _main_module_frame(main.__dict__)
    if frame is None or os.path.abspath(frame.f_code.co_filename) != os.path.abspath(main_file):
        return
    if _inside_main_guard(main_file, frame.f_lineno):
        return
    raise WorkerError(
        f"LocalProcessExecutor was started from the top level of {frame.f_code.co_filename} (line "
        f"{frame.f_lineno}) outside the main guard; the fix: {MAIN_GUARD_FIX}."
    )


def _main_module_frame(main_globals: dict[str, Any]) -> FrameType | None:
    """The frame running the main script's top level, if this call came from it."""
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_globals is main_globals and frame.f_code.co_name == "<module>":
            return frame
        frame = frame.f_back
    return None


def _inside_main_guard(filename: str, line: int) -> bool:
    """Whether ``line`` of ``filename`` lies in an ``if __name__ == "__main__":`` block (``True`` when the
    source cannot be read: a failing worker is still reported by :class:`WorkerError`)."""
    try:
        tree = ast.parse(Path(filename).read_text(encoding="utf-8"))
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
        return True
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and _is_main_test(node.test):
            if any(child.lineno <= line <= (child.end_lineno or child.lineno) for child in node.body):
                return True
    return False


def _is_main_test(test: ast.expr) -> bool:
    names = {node.id for node in ast.walk(test) if isinstance(node, ast.Name)}
    constants = {node.value for node in ast.walk(test) if isinstance(node, ast.Constant)}
    return "__name__" in names and "__main__" in constants
