"""The surrogates' settings (frozen dataclasses whose every field enters the surrogate's cache fingerprint) and
the error the surrogates raise."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any, TypeVar

from ..exceptions import HfOseError

__all__ = [
    "DistillationSurrogateSettings", "SurrogateError", "SurrogateSettings", "TaskSurrogateSettings", "resolve_settings",
]


class SurrogateError(HfOseError, ValueError):
    """A surrogate cannot be built with these settings, labels or data sizes (the message names the fix)."""

METRICS = ("error_rate", "cross_entropy")

S = TypeVar("S", bound="SurrogateSettings")


@dataclass(frozen=True)
class SurrogateSettings:
    """Base of the settings classes: :meth:`fingerprint` holds every field, so a field added later (here or in a
    subclass) keys the search cache without further code."""

    def fingerprint(self) -> dict[str, Any]:
        """Every field by name."""
        return {field.name: getattr(self, field.name) for field in fields(self)}

    def _at_least(self, **minimums: tuple[int | None, int]) -> None:
        """Refuse a field below its minimum (``None`` passes: "not set")."""
        for name, (value, minimum) in minimums.items():
            if value is not None and value < minimum:
                raise SurrogateError(f"{type(self).__name__}: {name}={value}, but it needs {name} >= {minimum}.")


@dataclass(frozen=True)
class DistillationSurrogateSettings(SurrogateSettings):
    """What the distillation surrogate's value depends on besides the parent, the texts, the tokenizer and the
    loss: ``steps`` AdamW steps of ``batch_size`` texts at ``learning_rate`` after a fixed evaluation batch of the
    first ``held_out`` texts, each truncated to ``max_length`` tokens; ``calibrate``: inherit with activation
    statistics of the first training batch; ``seed``."""

    steps: int = 25
    batch_size: int = 16
    held_out: int = 64
    max_length: int = 64
    learning_rate: float = 1e-4
    calibrate: bool = True
    seed: int = 0

    def __post_init__(self) -> None:
        self._at_least(steps=(self.steps, 0), batch_size=(self.batch_size, 1), held_out=(self.held_out, 2),
                       max_length=(self.max_length, 1))


@dataclass(frozen=True)
class TaskSurrogateSettings(SurrogateSettings):
    """What the task surrogate's value depends on besides the parent, the data, the tokenizer and the loss.

    ``steps`` task steps of ``batch_size`` examples (``max_length`` tokens) at ``learning_rate`` with a linear
    ``warmup`` fraction, after ``distill_steps`` distillation steps; the head's output layer starts as a linear
    probe on ``head_examples`` training examples (0: a random head); the token embeddings train only with
    ``train_embeddings``; ``metric`` (``"error_rate"`` or ``"cross_entropy"``) over the first ``dev_size``
    development examples (``None``: all); ``num_labels`` (``None``: the largest label + 1); ``calibrate``:
    inherit with activation statistics; the mean of ``repeats`` runs, run r under ``seed + r``.
    """

    steps: int = 100
    batch_size: int = 16
    max_length: int = 64
    learning_rate: float = 1e-4
    warmup: float = 0.1
    metric: str = "error_rate"
    dev_size: int | None = None
    head_examples: int = 512
    train_embeddings: bool = False
    distill_steps: int = 0
    num_labels: int | None = None
    calibrate: bool = True
    repeats: int = 2
    seed: int = 0

    def __post_init__(self) -> None:
        self._at_least(steps=(self.steps, 0), distill_steps=(self.distill_steps, 0),
                       head_examples=(self.head_examples, 0), batch_size=(self.batch_size, 1),
                       max_length=(self.max_length, 1), dev_size=(self.dev_size, 1), repeats=(self.repeats, 1))
        if not 0.0 <= self.warmup <= 1.0:
            raise SurrogateError(f"TaskSurrogateSettings: warmup={self.warmup} is a fraction of the steps: use 0 to 1.")
        if self.metric not in METRICS:
            raise SurrogateError(f"TaskSurrogateSettings: metric={self.metric!r}: choose one of {METRICS}.")


def resolve_settings(settings: S | None, kind: type[S], overrides: dict[str, Any]) -> S:
    """``settings`` (default: ``kind()``) with ``overrides`` applied by field name; an unknown name or a settings
    object of another kind is refused with the valid names."""
    settings = kind() if settings is None else settings
    if not isinstance(settings, kind):
        raise SurrogateError(f"settings= takes a {kind.__name__}, not a {type(settings).__name__}.")
    names = [field.name for field in fields(settings)]
    unknown = sorted(set(overrides) - set(names))
    if unknown:
        raise SurrogateError(f"Unknown setting(s) {unknown} for {kind.__name__}; its settings are {names}.")
    return replace(settings, **overrides)
