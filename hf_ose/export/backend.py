"""Export backends found by name: the interface they implement, and the registry that integrations fill.

Integrations register theirs through the Python entry-point group :data:`ENTRY_POINT_GROUP` (name = backend
name, value = an :class:`ExportBackend` subclass or instance), so the core never imports them;
:func:`register_export_backend` does the same from code. Mirrors :mod:`hf_ose.objectives.runtimes`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Callable, ClassVar

from .errors import BackendNotAvailableError

if TYPE_CHECKING:
    import numpy as np
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

ENTRY_POINT_GROUP = "hf_ose.export_backends"

#: Backends other packages provide: name -> (what it is, how to install it).
KNOWN_EXTERNAL: dict[str, tuple[str, str]] = {
    "onnx": ("ONNX Runtime", "pip install 'hf-ose[onnx]'"),
    "openvino": ("OpenVINO", "pip install 'hf-ose[openvino]'"),
}

#: A loaded artifact: numpy int64 ``input_ids`` / ``attention_mask`` (/ ``token_type_ids``) -> main output.
Session = Callable[[dict[str, "np.ndarray"]], "np.ndarray"]

_registry: dict[str, "ExportBackend"] = {}


class ExportBackend(ABC):
    """Writes a model as a deployable artifact and loads it back. Subclasses set the class attributes."""

    #: The name :func:`hf_ose.export.export` selects the backend by (``"onnx"``, ``"openvino"``).
    name: ClassVar[str]
    #: How to install what :meth:`available` needs (shown when it is missing).
    install_hint: ClassVar[str] = ""
    #: The precisions :meth:`export` accepts, e.g. ``("fp32", "int8")``.
    precisions: ClassVar[tuple[str, ...]] = ("fp32",)

    def available(self) -> bool:
        """Whether the packages this backend needs are importable."""
        return True

    @abstractmethod
    def export(self, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, out_dir: Path, *,
               precision: str, calibration: list[str] | None) -> list[Path]:
        """Write the artifact files for ``precision`` into ``out_dir`` (which exists, empty or holding this
        export's earlier files) and return them; ``calibration`` is the user's text, if any."""

    @abstractmethod
    def session(self, out_dir: Path, precision: str) -> Session:
        """Load the artifact written by :meth:`export`; the callable returns the model's main output (logits
        for a classifier, ``last_hidden_state`` for a feature extractor) as numpy."""


def register_export_backend(backend: ExportBackend | type[ExportBackend]) -> ExportBackend:
    """Make ``backend`` (an instance, or a class built without arguments) available under its name."""
    instance = backend() if isinstance(backend, type) else backend
    if not isinstance(instance, ExportBackend):
        raise TypeError(f"An export backend must subclass ExportBackend; got {type(instance).__name__}.")
    name = getattr(instance, "name", None)
    if not isinstance(name, str) or not name:
        raise ValueError(f"{type(instance).__name__} needs a non-empty class attribute `name`.")
    _registry[name] = instance
    return instance


def export_backend_names() -> list[str]:
    """Every backend name that can be selected (registered, or offered by an installed entry point)."""
    return sorted(set(_registry) | set(_entry_points()))


def get_export_backend(name: str) -> ExportBackend:
    """The backend called ``name``, loaded from its entry point on first use; its packages must be installed."""
    if name not in _registry:
        entry_point = _entry_points().get(name)
        if entry_point is None:
            raise BackendNotAvailableError(_missing_message(name))
        try:
            register_export_backend(entry_point.load())
        except ImportError as error:
            raise BackendNotAvailableError(f"{_missing_message(name)} ({error})") from error
    backend = _registry[name]
    if not backend.available():
        hint = backend.install_hint or KNOWN_EXTERNAL.get(name, ("", "install its packages"))[1]
        raise BackendNotAvailableError(
            f"The export backend {name!r} is registered but its packages are missing: {hint}."
        )
    return backend


def _entry_points() -> dict[str, metadata.EntryPoint]:
    return {ep.name: ep for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)}


def _missing_message(name: str) -> str:
    choices = export_backend_names()
    if name in KNOWN_EXTERNAL:
        label, install = KNOWN_EXTERNAL[name]
        return (f"The export backend {name!r} ({label}) is not installed. Install it with {install}, "
                f"or choose one of {choices}.")
    return (f"Unknown export backend {name!r}; choose one of {choices}, or register one with "
            f"hf_ose.export.register_export_backend (or the {ENTRY_POINT_GROUP!r} entry-point group).")
