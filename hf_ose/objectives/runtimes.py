"""Latency runtimes found by name: PyTorch in the core, others (ONNX Runtime, OpenVINO) from integrations.

A runtime turns a config into a ready forward pass; :func:`hf_ose.objectives.latency.measure_latency` times it
the same way whatever the runtime. Integrations register theirs through the Python entry-point group
:data:`ENTRY_POINT_GROUP` (name = runtime name, value = a :class:`LatencyRuntime` subclass or instance), so the
core never imports them; :func:`register_runtime` does the same from code.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Callable, ClassVar

from ..errors import HfOseError
from ..plugins import PluginRegistry

if TYPE_CHECKING:
    from transformers import PretrainedConfig

    from .latency import LatencySettings

ENTRY_POINT_GROUP = "hf_ose.latency_runtimes"

#: Runtimes the core ships, as "module:attribute" (loaded on first use, like entry points).
_BUILTIN: dict[str, str] = {"pytorch": "hf_ose.objectives.latency:PyTorchRuntime"}

#: Runtimes other packages provide: name -> (what it is, how to install it).
KNOWN_EXTERNAL: dict[str, tuple[str, str]] = {
    "onnxruntime": ("ONNX Runtime, fp32", "pip install 'hf-ose[onnx]'"),
    "onnxruntime-int8": ("ONNX Runtime, dynamic int8", "pip install 'hf-ose[onnx]'"),
    "openvino": ("OpenVINO, fp32", "pip install 'hf-ose[openvino]'"),
    "openvino-int8": ("OpenVINO, NNCF int8", "pip install 'hf-ose[openvino]'"),
}


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

    def versions(self) -> dict[str, str]:
        """Versions of the packages beyond torch that this runtime's timings depend on (cache keys cover them)."""
        return {}

    @abstractmethod
    def session(
        self, config: PretrainedConfig, settings: LatencySettings
    ) -> AbstractContextManager[Callable[[], object]]:
        """A context that builds ``config``'s base model (random weights, ``settings``' input shape and
        threads) and yields one forward pass on fixed inputs; the model is freed on exit."""


#: Every latency runtime by name: built in, registered from code, or from the entry-point group.
RUNTIMES: PluginRegistry[LatencyRuntime] = PluginRegistry(
    kind="latency runtime", base=LatencyRuntime, group=ENTRY_POINT_GROUP, error=RuntimeNotAvailableError,
    register_call="hf_ose.register_runtime", builtin=_BUILTIN, known_external=KNOWN_EXTERNAL,
)
#: Make a runtime (an instance, or a class built without arguments) available under its name.
register_runtime = RUNTIMES.register
#: Every runtime name that can be selected (registered, built in, or offered by an installed entry point).
runtime_names = RUNTIMES.names
#: Raise :class:`RuntimeNotAvailableError` naming the fix unless the name is a selectable runtime.
check_runtime_name = RUNTIMES.check_name
#: The runtime of that name: registered, built in, or loaded from its entry point on first use.
get_runtime = RUNTIMES.get
