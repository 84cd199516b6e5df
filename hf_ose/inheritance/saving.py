"""Save a student the way its parent is saved: weights, tokenizer and a sentence-transformers pipeline.

A student of a sentence-transformers parent (``modules.json`` beside the weights) gets the parent's modules
(pooling, normalisation, sequence length settings) with the pooling's width set to the student's hidden size,
so ``SentenceTransformer(student_dir)`` encodes as the parent does. The folder is written in a temporary
folder beside ``out_dir`` and renamed into place, so an interrupted save leaves no half-written student.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from transformers import AutoConfig, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase
from transformers.models.auto import modeling_auto

from ..exceptions import OutputNotWritableError
from ..io import usual_mode
from ..parent import resolve_model_source
from .families import InheritanceError

__all__ = ["SavedStudent", "auto_class_name", "check_student_folder", "save_student"]

#: Auto classes a text model is loaded with, most general first; the first that maps to the model's class wins.
_AUTO_CLASSES = {
    "AutoModel": "MODEL_MAPPING_NAMES",
    "AutoModelForSequenceClassification": "MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES",
    "AutoModelForTokenClassification": "MODEL_FOR_TOKEN_CLASSIFICATION_MAPPING_NAMES",
    "AutoModelForQuestionAnswering": "MODEL_FOR_QUESTION_ANSWERING_MAPPING_NAMES",
    "AutoModelForMultipleChoice": "MODEL_FOR_MULTIPLE_CHOICE_MAPPING_NAMES",
    "AutoModelForMaskedLM": "MODEL_FOR_MASKED_LM_MAPPING_NAMES",
    "AutoModelForCausalLM": "MODEL_FOR_CAUSAL_LM_MAPPING_NAMES",
    "AutoModelForPreTraining": "MODEL_FOR_PRETRAINING_MAPPING_NAMES",
}

_ST_CONFIG = "config_sentence_transformers.json"
_ST_MODULE = "sentence_transformers.models."
_WIDTH_FREE_MODULES = {"Transformer", "Normalize"}


@dataclass(frozen=True)
class SavedStudent:
    """Where a student was saved and how to load it."""

    path: Path
    load_with: str  # the transformers class that loads it with its head, e.g. "AutoModelForSequenceClassification"
    tokenizer: bool  # a tokenizer was saved beside it
    sentence_transformers: bool  # the folder is also a sentence-transformers model

    def how_to_load(self) -> str:
        """One sentence naming the classes that load the folder."""
        ways = f"{self.load_with}.from_pretrained({str(self.path)!r})"
        if self.sentence_transformers:
            ways += f" or SentenceTransformer({str(self.path)!r})"
        return f"load it with {ways}"


def auto_class_name(model: PreTrainedModel) -> str:
    """The transformers Auto class that loads ``model`` with its head (``AutoModel`` for a bare encoder);
    the model's own class name where no Auto class maps to it."""
    name = type(model).__name__
    model_type = model.config.model_type
    for auto_class, mapping_name in _AUTO_CLASSES.items():
        names = getattr(modeling_auto, mapping_name, {}).get(model_type, ())
        if name in (names if isinstance(names, (tuple, list)) else (names,)):
            return auto_class
    return name


def save_student(
    student: PreTrainedModel,
    out_dir: str | Path,
    *,
    parent: str | Path | None = None,
    tokenizer: PreTrainedTokenizerBase | None = None,
) -> SavedStudent:
    """Save ``student`` (stock ``save_pretrained``) with a tokenizer and, for a sentence-transformers parent,
    its sentence-transformers pipeline.

    ``parent``: the parent's model folder or Hub id. Its tokenizer is saved beside the student unless
    ``tokenizer`` is given, and a sentence-transformers layout in a parent folder is carried over.
    ``out_dir`` must not exist or be empty. Raises :class:`InheritanceError` when the parent's pipeline has a
    module sized to the parent's width (such as a ``Dense`` projection) and the student is narrower.
    """
    out_dir = check_student_folder(out_dir)
    parent = resolve_model_source(parent)
    parent_dir = Path(parent) if parent is not None and Path(parent).is_dir() else None
    modules = _sentence_transformer_modules(parent_dir, student) if parent_dir else None
    if tokenizer is None and parent is not None:
        tokenizer = _parent_tokenizer(parent)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}.", suffix=".tmp"))
    staging.chmod(usual_mode(folder=True))  # the student's folder is renamed from here: not a private 0o700
    try:
        student.save_pretrained(staging)
        if tokenizer is not None:
            tokenizer.save_pretrained(staging)
        if modules is not None:
            _write_pipeline(parent_dir, staging, modules, student.config.hidden_size)
        if out_dir.exists():
            out_dir.rmdir()
        os.replace(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return SavedStudent(out_dir, auto_class_name(student), tokenizer is not None, modules is not None)


def check_student_folder(out_dir: str | Path) -> Path:
    """``out_dir`` as a path, refused when it exists and is not an empty folder (nothing is overwritten)."""
    out_dir = Path(out_dir)
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise OutputNotWritableError(
            f"{out_dir} already exists and is not an empty folder; save the student to a new folder "
            "(or delete that one first)."
        )
    return out_dir


def _parent_tokenizer(parent: str | Path) -> PreTrainedTokenizerBase | None:
    try:
        return AutoTokenizer.from_pretrained(parent)
    except (OSError, ValueError):  # the parent has no tokenizer files
        return None


def _sentence_transformer_modules(parent_dir: Path, student: PreTrainedModel) -> list[dict[str, Any]] | None:
    """The parent's ``modules.json`` entries (``None`` for a plain transformers folder), checked to fit a
    student whose hidden size may be smaller than the parent's."""
    if not (parent_dir / "modules.json").is_file():
        return None
    modules = json.loads((parent_dir / "modules.json").read_text(encoding="utf-8"))
    parent_hidden = AutoConfig.from_pretrained(parent_dir).hidden_size
    if student.config.hidden_size == parent_hidden:
        return modules
    for module in modules:
        kind = module["type"].removeprefix(_ST_MODULE)
        if kind not in _WIDTH_FREE_MODULES and kind != "Pooling":
            raise InheritanceError(
                f"The parent's sentence-transformers module {module['path']!r} ({module['type']}) is sized to the "
                f"parent's hidden size {parent_hidden}, but the student's is {student.config.hidden_size}. Save the "
                "student without the parent (save_student(student, out_dir, tokenizer=...)) and add a freshly "
                "initialised module of the student's width with sentence-transformers."
            )
    return modules


def _write_pipeline(parent_dir: Path, target: Path, modules: list[dict[str, Any]], hidden: int) -> None:
    """Copy the parent's sentence-transformers files into ``target``: the transformer module moved to the
    folder's root (where the student's weights are), the pooling's width set to ``hidden``."""
    written = []
    for module in modules:
        source = parent_dir / module["path"]
        kind = module["type"].removeprefix(_ST_MODULE)
        if kind == "Transformer":
            settings = source / "sentence_bert_config.json"
            if settings.is_file():
                shutil.copyfile(settings, target / settings.name)
            written.append({**module, "path": ""})
            continue
        written.append(module)
        destination = target / module["path"]
        if source.is_dir():
            shutil.copytree(source, destination)
        else:
            destination.mkdir(parents=True)  # an empty module folder (Normalize) that the copy lost
        if kind == "Pooling":
            config_file = destination / "config.json"
            config = json.loads(config_file.read_text(encoding="utf-8"))
            key = "word_embedding_dimension" if "word_embedding_dimension" in config else "embedding_dimension"
            config_file.write_text(json.dumps({**config, key: hidden}, indent=2), encoding="utf-8")
    if (parent_dir / _ST_CONFIG).is_file():
        shutil.copyfile(parent_dir / _ST_CONFIG, target / _ST_CONFIG)
    (target / "modules.json").write_text(json.dumps(written, indent=2), encoding="utf-8")
