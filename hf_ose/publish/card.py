"""Model cards: what a published student is, how fast and accurate it measured, and how it was made, rendered
through ``huggingface_hub``'s :class:`~huggingface_hub.ModelCard` from ``model_cards/template.md``.

Every value is checked on the way out: local paths become their last component and token-like strings are
redacted, so a card never carries a path of this machine or a credential."""

from __future__ import annotations

import os
import re
from importlib.resources import files
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..architecture import Architecture
from ..exceptions import HfOseError
from ..io import atomic_write, ensure_writable_folder

if TYPE_CHECKING:
    from huggingface_hub import EvalResult, ModelCard
    from transformers import PretrainedConfig

    from ..front import ParetoFront, ParetoPoint

#: The Jinja template every card is rendered from.
TEMPLATE = Path(str(files("hf_ose.model_cards").joinpath("template.md")))
CARD_NAME = "README.md"
FRONT_PICTURE = "front.png"
TAGS: tuple[str, ...] = ("hf-ose", "bort", "ose")
_TOKEN = re.compile(r"\bhf_[A-Za-z0-9]{16,}\b")
_ABSOLUTE_PATH = re.compile(r"(?<![\w:/.~])~?/(?:[^\s/|`'\"()\[\]<>,;]+/)*([^\s/|`'\"()\[\]<>,;]+)/?")


class CardError(HfOseError, ValueError):
    """The card's inputs are incomplete or inconsistent."""


@dataclass(frozen=True)
class ModelSize:
    """A model's shape and parameter counts (total, and without embeddings)."""

    architecture: Architecture
    params: int
    effective_params: int

    @classmethod
    def of(cls, config: PretrainedConfig) -> "ModelSize":
        """Read the shape with the family's adapter and count the base model's parameters on the meta device."""
        from ..adapters import get_adapter
        from ..objectives.counting import build_on_meta, parameter_counts

        params, effective = parameter_counts(build_on_meta(config))
        return cls(get_adapter(config).read(config), params, effective)


@dataclass(frozen=True)
class LatencyRow:
    """One measured latency of the student in a runtime at a precision, beside the parent's (PyTorch fp32,
    measured in the same session) when it was measured."""

    runtime: str
    precision: str
    student_ms: float
    parent_ms: float | None = None


@dataclass(frozen=True)
class LatencySetup:
    """Where and how latency was measured."""

    hardware: str
    batch_size: int
    seq_len: int
    threads: int | None = None


@dataclass(frozen=True)
class Score:
    """A test-set score of the student, the parent and the teacher (``None``: not measured)."""

    metric: str
    student: float
    parent: float | None = None
    teacher: float | None = None
    split: str = "test"


@dataclass(frozen=True)
class CardInputs:
    """Everything a card states, as `hf-ose compress` fills it from its stage outputs. Optional fields belong to
    stages that may be absent (no search front, no teacher, no Agora rounds, no latency run): the card then
    says the stage did not run instead of inventing figures.

    ``base_model``, ``dataset`` and ``teacher`` are Hub ids or local folders (a local folder is named by its
    last component only); ``distillation`` is a one-sentence summary of the distillation settings; ``notes`` are
    sentences the card adds to how the model was made (e.g. why no int8 artifact ships)."""

    name: str
    base_model: str
    student: ModelSize
    parent: ModelSize
    pipeline_tag: str = "text-classification"
    library_name: str = "transformers"  #: "sentence-transformers" for an embedding model
    license: str | None = None
    dataset: str | None = None
    scores: Sequence[Score] = ()
    latency: Sequence[LatencyRow] = ()
    latency_setup: LatencySetup | None = None
    front: ParetoFront | None = None
    chosen: ParetoPoint | None = None
    teacher: str | None = None
    distillation: str | None = None
    agora_rounds: int | None = None
    tags: Sequence[str] = field(default_factory=tuple)
    notes: Sequence[str] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if self.latency and self.latency_setup is None:
            raise CardError("Latency rows need latency_setup (hardware, batch size, sequence length): pass "
                            "LatencySetup(...) or leave latency empty.")
        if self.chosen is not None and (self.front is None or self.chosen not in self.front.points):
            raise CardError("chosen must be a point of front: pass the front it was chosen from.")


def build_card(inputs: CardInputs, *, picture: str | None = None) -> ModelCard:
    """The card of ``inputs``: YAML metadata (with a ``model-index`` of the test scores) and the body from
    :data:`TEMPLATE`. ``picture``: the file name of the front's PNG beside the card, if one was written."""
    from huggingface_hub import ModelCard, ModelCardData

    base = _hub_id(inputs.base_model)
    dataset = _hub_id(inputs.dataset) if inputs.dataset else None
    data = ModelCardData(
        model_name=public(inputs.name), base_model=base, license=inputs.license, library_name=inputs.library_name,
        pipeline_tag=inputs.pipeline_tag, tags=list(dict.fromkeys([*TAGS, *map(public, inputs.tags)])),
        datasets=[dataset] if dataset else None, eval_results=_eval_results(inputs, dataset),
    )
    card = ModelCard.from_template(
        data, template_path=str(TEMPLATE), name=public(inputs.name), base_model=base or _name(inputs.base_model),
        base_is_hub_id=base is not None, dataset=_name(inputs.dataset) if inputs.dataset else None,
        license=inputs.license, sizes=_size_rows(inputs), latency_tables=_latency_tables(inputs),
        setup=None if inputs.latency_setup is None else _public_setup(inputs.latency_setup),
        scores=_score_rows(inputs), picture=picture, front_rows=_front_rows(inputs), made=_made(inputs),
        agora_rounds=inputs.agora_rounds,
    )
    return ModelCard(public(str(card)))


def write_card(inputs: CardInputs, folder: str | Path) -> Path:
    """Write ``README.md`` (and ``front.png``, the published point marked, when there is a front) into
    ``folder``, each atomically; returns the card's path."""
    out = ensure_writable_folder(folder)
    picture = None
    if inputs.front is not None and inputs.front.points:
        inputs.front.plot(out / FRONT_PICTURE, chosen=inputs.chosen)
        picture = FRONT_PICTURE
    path = out / CARD_NAME
    atomic_write(path, str(build_card(inputs, picture=picture)))
    return path


def public(text: str) -> str:
    """``text`` with absolute paths cut to their last component and tokens (``hf_...``, ``HF_TOKEN``, the
    stored token) redacted."""
    for secret in _known_tokens():
        text = text.replace(secret, "[redacted]")
    text = _TOKEN.sub("[redacted]", text)
    return _ABSOLUTE_PATH.sub(lambda match: match.group(1), text)


def _known_tokens() -> list[str]:
    from huggingface_hub import get_token

    tokens = {os.environ.get("HF_TOKEN"), os.environ.get("HUGGING_FACE_HUB_TOKEN"), get_token()}
    return [token for token in tokens if token and len(token) >= 8]


def _hub_id(value: str) -> str | None:
    """``value`` when it names a Hub repository (and no local folder of that name exists), else ``None``."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    if Path(value).expanduser().exists():
        return None
    try:
        validate_repo_id(value)
    except HFValidationError:
        return None
    return public(value)


def _name(value: str) -> str:
    """A Hub id as it is, a local folder by its last component."""
    return _hub_id(value) or public(Path(value).expanduser().name or value)


def _eval_results(inputs: CardInputs, dataset: str | None) -> list[EvalResult] | None:
    from huggingface_hub import EvalResult

    name = _name(inputs.dataset) if inputs.dataset else None
    if not inputs.scores or name is None:
        return None
    return [EvalResult(task_type=inputs.pipeline_tag, dataset_type=dataset or name, dataset_name=name,
                       dataset_split=score.split, metric_type=score.metric, metric_value=score.student)
            for score in inputs.scores]


def _count(value: int) -> str:
    return f"{value / 1e6:.1f}M" if value >= 1e6 else f"{value / 1e3:.0f}K"


def _size_rows(inputs: CardInputs) -> list[dict[str, str]]:
    """Architecture and parameter counts, the student beside the parent."""
    rows = []
    for label, size in (("this model", inputs.student), ("parent", inputs.parent)):
        arch = size.architecture
        rows.append({"model": label, "D": str(arch.depth), "A": str(arch.heads), "H": str(arch.hidden),
                     "I": str(arch.intermediate), "params": _count(size.params),
                     "effective": _count(size.effective_params)})
    ratio = inputs.student.params / inputs.parent.params
    rows[0]["params"] += f" ({ratio:.0%} of the parent)"
    return rows


def _latency_tables(inputs: CardInputs) -> dict[str, list[dict[str, str]]]:
    """One table per runtime: precision, the student's and the parent's latency, and the speed-up."""
    tables: dict[str, list[dict[str, str]]] = {}
    for row in inputs.latency:
        speedup = f"{row.parent_ms / row.student_ms:.1f}x" if row.parent_ms else "parent not measured"
        tables.setdefault(public(row.runtime), []).append({
            "precision": public(row.precision), "student": f"{row.student_ms:.2f}",
            "parent": f"{row.parent_ms:.2f}" if row.parent_ms else "not measured", "speedup": speedup,
        })
    return tables


def _public_setup(setup: LatencySetup) -> dict[str, str]:
    return {"hardware": public(setup.hardware), "batch_size": str(setup.batch_size), "seq_len": str(setup.seq_len),
            "threads": str(setup.threads) if setup.threads else "PyTorch's default"}


def _score_rows(inputs: CardInputs) -> list[dict[str, str]]:
    def shown(value: float | None) -> str:
        return "not measured" if value is None else f"{value:.4f}"

    return [{"metric": public(score.metric), "split": public(score.split), "student": shown(score.student),
             "parent": shown(score.parent), "teacher": shown(score.teacher)} for score in inputs.scores]


def _front_rows(inputs: CardInputs) -> list[dict[str, str]]:
    """The front's points, the published one marked."""
    front = inputs.front
    if front is None:
        return []
    rows = []
    for point in front.points:
        arch = point.architecture
        rows.append({"D": str(arch.depth), "A": str(arch.heads), "H": str(arch.hidden), "I": str(arch.intermediate),
                     "params": _count(point.params), "latency": f"{point.latency_ms:.2f}",
                     "speedup": f"{point.speedup(front.reference):.1f}x", "error": f"{point.error:.4g}",
                     "w": f"{point.w(front.reference):.3g}",
                     "mark": "**published**" if point == inputs.chosen else ""})
    return rows


def _made(inputs: CardInputs) -> list[str]:
    """How the model was made, one sentence per stage; absent stages are said to be absent."""
    lines = []
    record = inputs.front.record if inputs.front is not None else None
    if record is None:
        lines.append("Search: no search record was given, so the search settings are not stated.")
    else:
        settings = record.settings
        prior = " (a data-free prior estimate)" if settings.error_is_prior else ""
        grid = ", ".join(f"{key} {values}" for key, values in settings.grid.items() if values)
        lines.append(
            f"Search: {settings.strategy} over {record.candidates} candidate architectures ({grid}) with "
            f"epsilon {settings.epsilon} (the front is within a factor {1 + settings.epsilon:g} in size and "
            f"latency); error objective {public(settings.error_objective)}{prior}; {record.evaluations} error "
            f"evaluations against a bound of {record.evaluation_bound}."
        )
    if inputs.distillation:
        teacher = f" from the teacher {_name(inputs.teacher)}" if inputs.teacher else ""
        lines.append(f"Distillation{teacher}: {public(inputs.distillation)}")
    else:
        lines.append("Distillation: none was run.")
    if inputs.agora_rounds is None:
        lines.append("Agora: no AgoraTrainer rounds were run.")
    else:
        lines.append(f"Agora: {inputs.agora_rounds} AgoraTrainer rounds of fine-tuning.")
    return lines + [public(note) for note in inputs.notes]
