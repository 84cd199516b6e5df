"""The error objective: a pluggable callable from a variant config to a number (lower is better)."""

from __future__ import annotations

import inspect
from typing import Any, Callable, Protocol, runtime_checkable

from transformers import PretrainedConfig

from .counting import build_on_meta, parameter_counts


@runtime_checkable
class ErrorObjective(Protocol):
    """What the search needs of an error estimate.

    ``fingerprint()`` returns everything the value depends on (settings, data digests): the search cache keys
    results by it. ``is_prior`` marks estimates that use no data, so outputs can label them as such.
    """

    name: str
    is_prior: bool

    def fingerprint(self) -> dict[str, Any]: ...

    def __call__(self, config: PretrainedConfig) -> float: ...


class DataFreePrior:
    """A data-free error prior: Kaplan et al. (2020)'s loss law in non-embedding parameters N,
    ``L(N) = (N_c / N) ** alpha`` with ``N_c = 8.8e13`` and ``alpha = 0.076``.

    It uses no weights and no data, so it cannot tell depth from width at equal N; every output labels its
    values as prior estimates. It is monotone in depth, hidden and intermediate size, as the search assumes.
    """

    name = "data-free prior (Kaplan et al. 2020, L(N) in non-embedding parameters)"
    is_prior = True

    def __init__(self, n_c: float = 8.8e13, alpha: float = 0.076) -> None:
        self.n_c, self.alpha = n_c, alpha

    def fingerprint(self) -> dict[str, Any]:
        return {"objective": "DataFreePrior", "n_c": self.n_c, "alpha": self.alpha}

    def __call__(self, config: PretrainedConfig) -> float:
        _, effective = parameter_counts(build_on_meta(config))
        return (self.n_c / max(effective, 1)) ** self.alpha


class CallableObjective:
    """Wraps a plain ``callable(config) -> float`` as an :class:`ErrorObjective`.

    The cache cannot see inside a plain callable: it keys results by the callable's qualified name (and by
    its ``fingerprint`` attribute, if it has one), so rename it when you change what it computes.
    """

    is_prior = False

    def __init__(self, function: Callable[[PretrainedConfig], float]) -> None:
        self.function = function
        self.name = getattr(function, "__qualname__", type(function).__qualname__)

    def fingerprint(self) -> dict[str, Any]:
        module = inspect.getmodule(self.function)
        extra = getattr(self.function, "fingerprint", None)
        return {
            "objective": f"{module.__name__ if module else '?'}.{self.name}",
            "fingerprint": extra() if callable(extra) else extra,
        }

    def __call__(self, config: PretrainedConfig) -> float:
        return self.function(config)


def as_error_objective(error: ErrorObjective | Callable[[PretrainedConfig], float] | None) -> ErrorObjective:
    """``None`` gives the :class:`DataFreePrior`; a plain callable is wrapped."""
    if error is None:
        return DataFreePrior()
    if isinstance(error, ErrorObjective):
        return error
    if callable(error):
        return CallableObjective(error)
    raise TypeError(f"The error objective must be callable (config -> float), not {type(error).__name__}.")
