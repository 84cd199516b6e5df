"""Export backends found by name: the interface they implement, the registry that integrations fill, and the
errors export raises (each message names the problem and the fix).

Integrations register theirs through the Python entry-point group :data:`ENTRY_POINT_GROUP` (name = backend
name, value = an :class:`ExportBackend` subclass or instance), so the core never imports them;
:func:`register_export_backend` does the same from code (:class:`hf_ose.plugins.PluginRegistry`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, Callable, ClassVar

from ..exceptions import HfOseError
from ..plugins import PluginRegistry

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


class ExportError(HfOseError, ValueError):
    """The model, its head, the calibration text or the output folder cannot be exported as asked."""


class BackendNotAvailableError(HfOseError, ValueError):
    """No export backend of that name is registered, or its packages are not installed."""


class ParityError(HfOseError, ValueError):
    """The artifact's outputs differ from the PyTorch model's by more than the precision's tolerance; it was
    not kept."""


class ExportBackend(ABC):
    """Writes a model as a deployable artifact and loads it back. Subclasses set the class attributes."""

    #: The name :func:`hf_ose.export.export` selects the backend by (``"onnx"``, ``"openvino"``).
    name: ClassVar[str]
    #: How to install what :meth:`available` needs (shown when it is missing).
    install_hint: ClassVar[str] = ""
    #: The precisions :meth:`export` accepts, e.g. ``("fp32", "int8")``.
    precisions: ClassVar[tuple[str, ...]] = ("fp32",)
    #: The precisions whose :meth:`export` calibrates on the ``calibration`` text (e.g. ``("int8",)``).
    calibrated_precisions: ClassVar[tuple[str, ...]] = ()

    def available(self) -> bool:
        """Whether the packages this backend needs are importable."""
        return True

    @abstractmethod
    def export(self, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, out_dir: Path, *,
               precision: str, calibration: list[str] | None) -> list[Path]:
        """Write the artifact files for ``precision`` into ``out_dir`` (which exists, empty or holding this
        export's earlier files) and return them; ``calibration`` is a bounded sample of the user's text, if any:
        sentences, sentence pairs, or lists of words for a token classifier (:mod:`hf_ose.export.texts`)."""

    @abstractmethod
    def session(self, out_dir: Path, precision: str, *, threads: int | None = None) -> Session:
        """Load the artifact written by :meth:`export`, running ``threads`` intra-op threads (``None``: the
        runtime's default); the callable returns the model's main output (logits for a sequence or token
        classifier, ``last_hidden_state`` for a feature extractor) as numpy."""


#: Every export backend by name: registered from code or from the entry-point group.
BACKENDS: PluginRegistry[ExportBackend] = PluginRegistry(
    kind="export backend", base=ExportBackend, group=ENTRY_POINT_GROUP, error=BackendNotAvailableError,
    register_call="hf_ose.export.register_export_backend", known_external=KNOWN_EXTERNAL,
)
#: Make a backend (an instance, or a class built without arguments) available under its name.
register_export_backend = BACKENDS.register
#: Every backend name that can be selected (registered, or offered by an installed entry point).
export_backend_names = BACKENDS.names
#: The backend of that name, loaded from its entry point on first use; its packages must be installed.
get_export_backend = BACKENDS.get
