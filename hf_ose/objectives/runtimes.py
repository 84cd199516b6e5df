"""Latency runtimes found by name: PyTorch in the core, others (ONNX Runtime, OpenVINO) from integrations.

A runtime turns a config into a ready forward pass; :func:`hf_ose.objectives.latency.measure_latency` times it
the same way whatever the runtime. Integrations register theirs through the Python entry-point group
:data:`ENTRY_POINT_GROUP` (name = runtime name, value = a :class:`LatencyRuntime` subclass or instance), so the
core never imports them; :func:`register_runtime` does the same from code.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from contextlib import AbstractContextManager
from importlib import metadata
from typing import TYPE_CHECKING, Callable, ClassVar

from ..errors import HfOseError

if TYPE_CHECKING:
    from transformers import PretrainedConfig

    from .latency import LatencySettings

ENTRY_POINT_GROUP = "hf_ose.latency_runtimes"

#: Runtimes the core ships, as "module:attribute" (loaded on first use, like entry points).
_BUILTIN: dict[str, str] = {"pytorch": "hf_ose.objectives.latency:PyTorchRuntime"}

#: Runtimes other packages provide: name -> (what it is, how to install it).
KNOWN_EXTERNAL: dict[str, tuple[str, str]] = {
    "onnxruntime": ("ONNX Runtime", "pip install 'hf-ose[onnx]'"),
    "openvino": ("OpenVINO", "pip install 'hf-ose[openvino]'"),
}

_registry: dict[str, "LatencyRuntime"] = {}


class RuntimeNotAvailableError(HfOseError, ValueError):
    """No runtime of that name is registered, or its packages are not installed."""


class LatencyRuntime(ABC):
    """Runs a model for timing. Subclasses set :attr:`name` and implement :meth:`session`."""

    #: The name :class:`~hf_ose.objectives.latency.LatencySettings` selects the runtime by.
    name: ClassVar[str]
    #: How to install what :meth:`available` needs (shown when it is missing).
    install_hint: ClassVar[str] = ""

    def available(self) -> bool:
        """Whether the packages this runtime needs are importable."""
        return True

    @abstractmethod
    def session(
        self, config: PretrainedConfig, settings: LatencySettings
    ) -> AbstractContextManager[Callable[[], object]]:
        """A context that builds ``config``'s base model (random weights, ``settings``' input shape and
        threads) and yields one forward pass on fixed inputs; the model is freed on exit."""


def register_runtime(runtime: LatencyRuntime | type[LatencyRuntime]) -> LatencyRuntime:
    """Make ``runtime`` (an instance, or a class built without arguments) available under its name."""
    instance = runtime() if isinstance(runtime, type) else runtime
    if not isinstance(instance, LatencyRuntime):
        raise TypeError(f"A latency runtime must subclass LatencyRuntime; got {type(instance).__name__}.")
    name = getattr(instance, "name", None)
    if not isinstance(name, str) or not name:
        raise ValueError(f"{type(instance).__name__} needs a non-empty class attribute `name`.")
    _registry[name] = instance
    return instance


def runtime_names() -> list[str]:
    """Every runtime name that can be selected (registered, built in, or offered by an installed entry point)."""
    return sorted(set(_registry) | set(_BUILTIN) | set(_entry_points()))


def check_runtime_name(name: str) -> None:
    """Raise :class:`RuntimeNotAvailableError` naming the fix unless ``name`` is a selectable runtime."""
    if name not in _registry and name not in _BUILTIN and name not in _entry_points():
        raise RuntimeNotAvailableError(_missing_message(name))


def get_runtime(name: str) -> LatencyRuntime:
    """The runtime called ``name``: registered, built in, or loaded from its entry point on first use."""
    if name not in _registry:
        target = _BUILTIN.get(name)
        if target is not None:
            module, _, attribute = target.partition(":")
            register_runtime(getattr(importlib.import_module(module), attribute))
        elif name in _entry_points():
            register_runtime(_entry_points()[name].load())
        else:
            raise RuntimeNotAvailableError(_missing_message(name))
    runtime = _registry[name]
    if not runtime.available():
        hint = runtime.install_hint or KNOWN_EXTERNAL.get(name, ("", "install its packages"))[1]
        raise RuntimeNotAvailableError(
            f"The latency runtime {name!r} is registered but its packages are missing: {hint}."
        )
    return runtime


def _entry_points() -> dict[str, metadata.EntryPoint]:
    return {ep.name: ep for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)}


def _missing_message(name: str) -> str:
    choices = runtime_names()
    if name in KNOWN_EXTERNAL:
        label, install = KNOWN_EXTERNAL[name]
        return (
            f"The latency runtime {name!r} ({label}) is not installed. Install it with {install}, "
            f"or choose one of {choices}."
        )
    return (
        f"Unknown latency runtime {name!r}; choose one of {choices}, or register one with "
        f"hf_ose.objectives.runtimes.register_runtime (or the {ENTRY_POINT_GROUP!r} entry-point group)."
    )
