"""Test helpers shared by the suite: the ``slow`` decorator, transformers' convention.

Tests that train, export, spawn processes or run whole searches are slow: they run only with ``RUN_SLOW=1``
(the full run, which CI runs); the default ``python -m pytest -q`` skips them.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TypeVar

import pytest

T = TypeVar("T", bound=Callable)


def run_slow() -> bool:
    """Whether ``RUN_SLOW`` asks for the slow tests (``1``, ``true``, ``yes``, ``on``)."""
    return os.environ.get("RUN_SLOW", "").strip().lower() in {"1", "true", "yes", "on"}


def slow(test: T) -> T:
    """Mark ``test`` slow: skipped unless ``RUN_SLOW=1``; selectable with ``-m slow`` / ``-m "not slow"``."""
    return pytest.mark.slow(pytest.mark.skipif(not run_slow(), reason="slow test: set RUN_SLOW=1 to run it")(test))
