"""``export``: a model folder (or a loaded model) to a parity-checked CPU artifact in Optimum's layout."""

from __future__ import annotations

import inspect
import json
import logging
import os
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Sequence
from typing import TYPE_CHECKING

import transformers

from ..data import digest_weights
from ..io import atomic_write, ensure_writable_folder
from ..parent import load_parent_model, resolve_model_source
from .backend import ExportBackend, ExportError, ParityError, get_export_backend
from .parity import ParityResult, Tolerance, check_parity, parity_kind
from .texts import CALIBRATION_SIZE, PARITY_SIZE, SAMPLE_SEED, Text, TextSamples, clean_texts, draw_samples, has_text

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

logger = logging.getLogger(__name__)

REPORT_NAME = "export_report.json"
#: The heads export supports (Optimum's names for them, kept under "task" in the report file), by the auto class
#: whose mapping names the model's class. A sequence classifier with one output is a regression model
#: (:func:`~hf_ose.export.parity.parity_kind`); Optimum exports it as text-classification too.
HEADS: dict[str, str] = {"MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING": "text-classification",
                         "MODEL_FOR_TOKEN_CLASSIFICATION_MAPPING": "token-classification",
                         "MODEL_MAPPING": "feature-extraction"}
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


@dataclass(frozen=True)
class ExportReport:
    """One kept artifact: where it is, what it holds, and its parity figures."""

    out_dir: Path
    backend: str
    precision: str
    head: str  #: what the model outputs: ``text-classification`` / ``token-classification`` (logits) or
    #: ``feature-extraction`` (hidden states)
    files: list[Path]
    parity: ParityResult
    samples: TextSamples | None = None  #: the calibration and parity samples drawn from the given text (None: none)
    calibrated: bool = False  #: whether this precision was calibrated on ``samples.calibration``

    @property
    def task(self) -> str:
        """Deprecated name of :attr:`head` (a task is a labelled data set, :class:`hf_ose.tasks.Task`)."""
        warnings.warn("ExportReport.task is now ExportReport.head; the old name goes in the next release.",
                      DeprecationWarning, stacklevel=2)
        return self.head

    def to_dict(self) -> dict[str, object]:
        texts = self.samples.to_dict(self.calibrated) if self.samples else None
        return {"backend": self.backend, "precision": self.precision, "task": self.head,
                "files": [path.name for path in self.files], "texts": texts, "parity": self.parity.to_dict()}


def export(model_dir_or_model: str | Path | PreTrainedModel, out_dir: str | Path, *, backend: str,
           precision: str = "fp32", calibration: Sequence[Text] | None = None,
           tokenizer: PreTrainedTokenizerBase | None = None, overwrite: bool = False,
           tolerance: Tolerance | None = None, calibration_size: int = CALIBRATION_SIZE,
           parity_size: int = PARITY_SIZE, seed: int = SAMPLE_SEED) -> ExportReport:
    """Export a sequence classifier (or regression model), token classifier or feature extractor with ``backend``
    at ``precision``, check it against PyTorch with right and left padding, and keep it only if it is within
    ``tolerance`` (default :data:`~hf_ose.export.parity.TOLERANCES`). Writes the artifact, config.json, the
    tokenizer files and ``export_report.json`` into ``out_dir``.

    ``calibration``: sentences, (first, second) pairs for a pair model, or lists of words (or sentences, split on
    whitespace) for a token classifier; any number. int8 is calibrated on a seeded sample of at most
    ``calibration_size`` of them and parity is checked on at most ``parity_size`` (those left out of the
    calibration sample first); without text, parity uses a dozen built-in sentences."""
    chosen = get_export_backend(backend)
    if precision not in chosen.precisions:
        raise ExportError(f"The {backend!r} backend exports {list(chosen.precisions)}, not {precision!r}.")
    if calibration is not None and not has_text(calibration):
        raise ExportError("The calibration text is empty: pass non-empty sentences, or none for the defaults.")
    source = resolve_model_source(model_dir_or_model)
    model = load_parent_model(source).eval()
    head = head_of(model)
    samples = None
    if calibration is not None:
        samples = draw_samples(clean_texts(calibration, words=head == "token-classification"), calibration_size,
                               parity_size, seed)
    tokenizer = tokenizer or _load_tokenizer(source)
    out = ensure_writable_folder(out_dir)
    fingerprint = digest_weights(model)
    previous, replaced = _previous_report(out, fingerprint, overwrite)
    calibrated = samples is not None and precision in chosen.calibrated_precisions
    if samples is not None:
        logger.info("%s %s: %s parity on %d of %d texts (%d held out of calibration; seed %d).", backend, precision,
                    f"calibrating on {len(samples.calibration)} texts," if calibrated else "no calibration;",
                    len(samples.parity), samples.given, samples.held_out, samples.seed)
    files, parity = _export_checked(chosen, model, tokenizer, out, precision, head, samples, tolerance)
    for name in replaced - {path.name for path in files}:  # the other model's export, now that this one is kept
        (out / name).unlink(missing_ok=True)
    model.config.save_pretrained(out)
    tokenizer.save_pretrained(out)
    report = ExportReport(out, backend, precision, head, files, parity, samples, calibrated)
    artifacts = {**previous, f"{backend}-{precision}": report.to_dict()}
    atomic_write(out / REPORT_NAME, json.dumps({"model": fingerprint, "artifacts": artifacts}, indent=2) + "\n")
    return report


def head_of(model: PreTrainedModel) -> str:
    """What ``model``'s class outputs, as Optimum names it (:data:`HEADS`); :class:`ExportError` for one export does not support."""
    name = type(model).__name__
    if model.main_input_name != "input_ids":
        raise ExportError(f"Cannot export a {name}: it reads {model.main_input_name}, not text. Export supports text "
                          "encoders (e.g. BertForSequenceClassification, BertModel) with their tokenizer.")
    if not getattr(model.config, "is_encoder_decoder", False):
        for mapping, head in HEADS.items():
            if getattr(transformers, mapping).get(type(model.config), None) is type(model):
                return head
    raise ExportError(
        f"Cannot export a {name}: export supports encoders for sequence classification or regression (AutoModelFor"
        "SequenceClassification, e.g. BertForSequenceClassification), token classification (AutoModelForToken"
        "Classification) and feature extraction (AutoModel, e.g. BertModel). Save the model in one of those classes."
    )


def input_names(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase) -> list[str]:
    """The inputs the artifact takes: ``input_ids``, ``attention_mask``, and ``token_type_ids`` when both the
    tokenizer produces them and the model uses them."""
    accepted = inspect.signature(model.forward).parameters
    produced = set(tokenizer.model_input_names) | {"input_ids", "attention_mask"}
    return [name for name in _INPUTS if name in accepted and name in produced]


def _export_checked(backend: ExportBackend, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, out: Path,
                    precision: str, head: str, samples: TextSamples | None,
                    tolerance: Tolerance | None) -> tuple[list[Path], ParityResult]:
    """The artifact exported into a scratch folder inside ``out`` and checked there; its files move into ``out``
    only when it passes, so a refused artifact leaves ``out`` (an earlier export included) as it was."""
    with tempfile.TemporaryDirectory(dir=out, prefix=".export-") as scratch:
        staged = backend.export(model, tokenizer, Path(scratch), precision=precision,
                                calibration=samples.calibration if samples else None)
        parity = check_parity(model, tokenizer, backend.session(Path(scratch), precision), precision=precision,
                              kind=parity_kind(model, head), input_names=input_names(model, tokenizer),
                              texts=samples.parity if samples else None, tolerance=tolerance)
        if not parity.passed:
            raise ParityError(
                f"The {backend.name} {precision} artifact failed parity with PyTorch on {parity.texts} texts "
                f"(right and left padding): {'; '.join(parity.failures)}. It was not kept. Try fp32, other "
                "calibration text, or report the model."
            )
        files = [out / path.name for path in staged]
        for path, target in zip(staged, files):
            os.replace(path, target)
    return files, parity


def _previous_report(out: Path, fingerprint: str, overwrite: bool) -> tuple[dict[str, object], set[str]]:
    """The artifacts already exported from this model into ``out``, and the files of another model's export that
    the new one replaces; refuses a folder holding something else unless ``overwrite``."""
    report_file = out / REPORT_NAME
    try:
        earlier = json.loads(report_file.read_text()) if report_file.is_file() else None
    except ValueError:  # unreadable: treated as a folder holding other files
        earlier = None
    if earlier is not None and earlier.get("model") == fingerprint:
        return dict(earlier.get("artifacts", {})), set()
    if not any(not path.name.startswith(".export-") for path in out.iterdir()):  # scratch of a killed export
        return {}, set()
    if not overwrite:
        holds = "a different model's export" if earlier is not None else "other files"
        raise ExportError(f"{out} already holds {holds}. Choose an empty folder, or pass overwrite=True "
                          "(--overwrite) to replace its export.")
    artifacts = (earlier or {}).get("artifacts", {}).values()
    return {}, {name for artifact in artifacts for name in artifact.get("files", [])}


def _load_tokenizer(source: str | Path | PreTrainedModel) -> PreTrainedTokenizerBase:
    from transformers import AutoTokenizer

    if not isinstance(source, (str, Path)):
        raise ExportError("Exporting a model object needs its tokenizer: pass tokenizer=.")
    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
    except (OSError, ValueError) as error:
        raise ExportError(f"{source} holds no tokenizer ({str(error).splitlines()[0]}); save one beside the model "
                          "or pass tokenizer=.") from error
    if len(tokenizer) <= len(set(tokenizer.all_special_ids)):  # built from the config alone: every word unknown
        raise ExportError(f"{source} holds no tokenizer files (the {type(tokenizer).__name__} made from its config "
                          f"knows only {len(tokenizer)} special tokens); save the tokenizer beside the model "
                          "(tokenizer.save_pretrained) or pass tokenizer=.")
    return tokenizer
