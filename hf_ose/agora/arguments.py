"""Agora's options, as a :class:`transformers.TrainingArguments` subclass: a script switches by its class name."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from transformers import TrainingArguments

from .interfaces import POOL_SPACES, AgoraError

__all__ = ["AgoraArguments"]

_AGORA_FIELDS = frozenset({
    "agora_settings", "agora_samples_per_mistake", "agora_sampler", "agora_drop_share", "agora_max_rounds",
    "agora_min_confidence", "agora_score_tolerance", "agora_labeller", "agora_text_columns", "agora_max_length",
    "distill", "distill_alpha", "distill_temperature", "agora_unlabelled", "agora_pool_space",
    "agora_max_points_per_round", "agora_pool_labelled",
})
#: TrainingArguments fields a setting may not change: where runs write, and what runs at all.
_FIXED_FIELDS = frozenset({"output_dir", "do_train", "do_eval", "do_predict", "push_to_hub"})


@dataclass
class AgoraArguments(TrainingArguments):
    """:class:`~transformers.TrainingArguments` plus the Agora loop's options (design notes, "Agora").

    Each setting in ``agora_settings`` is a dict of ``TrainingArguments`` fields (e.g. ``{"learning_rate": 5e-5,
    "num_train_epochs": 3}``) applied over these arguments with :func:`dataclasses.replace`; ``None`` means one
    setting: the arguments as given. After each round the worst ``agora_drop_share`` of the remaining settings
    (rounded down, at least one) is dropped; the loop ends when none remain or after ``agora_max_rounds``.
    """

    agora_settings: list[dict[str, Any]] | None = field(default=None, metadata={
        "help": "Hyperparameter settings: dicts of TrainingArguments fields (None: one, the arguments as given)."})
    agora_samples_per_mistake: int = field(default=4, metadata={
        "help": "New points the sampler proposes near each development-set mistake."})
    agora_sampler: str | None = field(default=None, metadata={
        "help": "Registered sampler name (hf_ose.agora.samplers.SAMPLER_REGISTRY), used when no sampler= is given "
                "(None: 'nearest-neighbours' over the unlabelled pool when one is given, else 'token-edits')."})
    agora_unlabelled: str | None = field(default=None, metadata={
        "help": "A file of unlabelled in-domain text (.txt: one text a line; .jsonl/.csv/.tsv: the text columns, or "
                "a sentence's words in 'tokens' for token classification), "
                "the pool the nearest-neighbour sampler draws from; AgoraTrainer(unlabelled=...) takes texts or a "
                "Dataset instead."})
    agora_pool_space: str = field(default="teacher", metadata={
        "help": "Where pool texts and mistakes are embedded: 'teacher' (the labeller model's encoder, embedded once), "
                "'teacher-head' (what the labeller's output layer reads: texts it classifies alike are near) or "
                "'student' (each round's best student's encoder, the pool re-embedded every round)."})
    agora_max_points_per_round: int | None = field(default=None, metadata={
        "help": "Cap on the points sampled per round, taken round-robin over the mistakes nearest first (None: no "
                "cap beyond agora_samples_per_mistake per mistake)."})
    agora_pool_labelled: int = field(default=0, metadata={
        "help": "Pool texts drawn at random and labelled by the labeller before the loop, added to the training set "
                "(with soft targets under distill): distillation on unlabelled text. 0: none; -1: the whole pool."})
    agora_drop_share: float = field(default=0.5, metadata={
        "help": "Share of the remaining settings dropped after each round (rounded down, at least one)."})
    agora_selection_share: float = field(default=0.0, metadata={
        "help": "Share of the development set held out from the sampler (a seeded draw): the setting and the round are "
                "chosen on it, mistakes are found on the rest, so the choice is not scored on the rows the new points "
                "were drawn near. 0: the whole development set does both (the paper's loop)."})
    agora_max_rounds: int | None = field(default=None, metadata={
        "help": "Cap on rounds (None: until every setting has been dropped)."})
    agora_min_confidence: float = field(default=0.0, metadata={
        "help": "A generated point is kept when the labeller's top probability is at least this (for tags: on every "
                "tagged token; scores are always kept)."})
    agora_labeller: str | None = field(default=None, metadata={
        "help": "A saved teacher's folder (a *ForSequenceClassification or *ForTokenClassification) that labels new "
                "points when AgoraTrainer gets no labeller=; lets a script parsing its arguments name one."})
    agora_score_tolerance: float | None = field(default=None, metadata={
        "help": "Regression: a development score off by more than this (in the labels' units) is a mistake (None: a "
                "tenth of the training scores' range, 0.5 on STS-B's 0-5)."})
    # annotated as a list so that HfArgumentParser reads it as words; stored as a tuple
    agora_text_columns: list[str] | None = field(default=None, metadata={
        "help": "Text columns, stored as a tuple (None: 'sentence', or 'sentence1' and 'sentence2')."})
    agora_max_length: int = field(default=128, metadata={"help": "Token budget of every encoded point."})
    distill: bool = field(default=False, metadata={
        "help": "Train on alpha * CE + (1 - alpha) * T^2 * KL(labeller || student), per tagged token for tags, or "
                "alpha * MSE(label) + (1 - alpha) * MSE(labeller's score) for regression (needs a labeller)."})
    distill_alpha: float = field(default=0.5, metadata={"help": "Weight of the label's loss (cross-entropy or MSE)."})
    distill_temperature: float = field(default=2.0, metadata={"help": "Distillation temperature T."})

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.agora_text_columns is not None:
            self.agora_text_columns = tuple(self.agora_text_columns)
        self._check_agora_options()
        if self.agora_settings is not None:
            self.agora_settings = _checked_settings(self.agora_settings)

    def _check_agora_options(self) -> None:
        problems = []
        if not isinstance(self.agora_samples_per_mistake, int) or self.agora_samples_per_mistake < 1:
            problems.append(f"agora_samples_per_mistake={self.agora_samples_per_mistake!r}: give an integer >= 1")
        if self.agora_sampler is not None and (not isinstance(self.agora_sampler, str) or not self.agora_sampler):
            problems.append(f"agora_sampler={self.agora_sampler!r}: give a registered sampler name or None")
        if self.agora_pool_space not in POOL_SPACES:
            problems.append(f"agora_pool_space={self.agora_pool_space!r}: choose one of {', '.join(POOL_SPACES)}")
        cap = self.agora_max_points_per_round
        if cap is not None and (not isinstance(cap, int) or cap < 1):
            problems.append(f"agora_max_points_per_round={cap!r}: give an integer >= 1 or None")
        if not isinstance(self.agora_pool_labelled, int) or self.agora_pool_labelled < -1:
            problems.append(f"agora_pool_labelled={self.agora_pool_labelled!r}: give a row count >= 0, or -1 for the "
                            "whole pool")
        if not 0.0 <= self.agora_drop_share <= 1.0:
            problems.append(f"agora_drop_share={self.agora_drop_share}: give a share in [0, 1]")
        if not 0.0 <= self.agora_selection_share < 1.0:
            problems.append(f"agora_selection_share={self.agora_selection_share}: give a share in [0, 1) (0: no "
                            "held-out selection rows)")
        if self.agora_max_rounds is not None and (not isinstance(self.agora_max_rounds, int)
                                                  or self.agora_max_rounds < 1):
            problems.append(f"agora_max_rounds={self.agora_max_rounds!r}: give an integer >= 1 or None")
        if self.agora_drop_share == 0 and self.agora_max_rounds is None:
            problems.append("agora_drop_share=0 never drops a setting, so the loop would not end: "
                            "set agora_max_rounds")
        if not 0.0 <= self.agora_min_confidence <= 1.0:
            problems.append(f"agora_min_confidence={self.agora_min_confidence}: give a probability in [0, 1]")
        tolerance = self.agora_score_tolerance
        if tolerance is not None and not (isinstance(tolerance, (int, float)) and math.isfinite(tolerance)
                                          and tolerance >= 0):
            problems.append(f"agora_score_tolerance={tolerance!r}: give a score difference >= 0 or None")
        columns = self.agora_text_columns
        if columns is not None and (len(columns) not in (1, 2)
                                    or not all(isinstance(c, str) and c for c in columns)):
            problems.append(f"agora_text_columns={columns!r}: give one column name, or two for sentence pairs")
        if not isinstance(self.agora_max_length, int) or self.agora_max_length < 4:
            problems.append(f"agora_max_length={self.agora_max_length!r}: give an integer >= 4")
        if not 0.0 <= self.distill_alpha <= 1.0:
            problems.append(f"distill_alpha={self.distill_alpha}: give a weight in [0, 1]")
        if not (math.isfinite(self.distill_temperature) and self.distill_temperature > 0):
            problems.append(f"distill_temperature={self.distill_temperature}: give a temperature > 0")
        if problems:
            raise AgoraError("Invalid AgoraArguments: " + "; ".join(problems) + ".")

    def settings(self) -> list[dict[str, Any]]:
        """The hyperparameter settings the loop starts from (``[{}]`` when ``agora_settings`` is None)."""
        return [dict(s) for s in self.agora_settings] if self.agora_settings is not None else [{}]

    def for_run(self, setting: dict[str, Any], output_dir: str) -> AgoraArguments:
        """These arguments with ``setting`` applied, writing to ``output_dir``: one fine-tuning's arguments."""
        return dataclasses.replace(self, **setting, output_dir=output_dir, push_to_hub=False)

    @classmethod
    def from_training_arguments(cls, args: TrainingArguments) -> AgoraArguments:
        """``args`` as AgoraArguments with Agora's defaults (one setting: ``args`` as given)."""
        if isinstance(args, cls):
            return args
        return cls(**{f.name: getattr(args, f.name) for f in dataclasses.fields(TrainingArguments) if f.init})


def _checked_settings(settings: Any) -> list[dict[str, Any]]:
    """``settings`` as a list of dicts of changeable TrainingArguments fields, or a clear AgoraError."""
    if not isinstance(settings, (list, tuple)) or not all(isinstance(s, dict) for s in settings):
        raise AgoraError(f"agora_settings must be a list of dicts of TrainingArguments fields, got {settings!r}.")
    if not settings:
        raise AgoraError("agora_settings is empty: give at least one setting (e.g. [{'learning_rate': 5e-5}]), "
                         "or None for one setting, the arguments as given.")
    known = {f.name for f in dataclasses.fields(TrainingArguments) if f.init} - _FIXED_FIELDS
    for setting in settings:
        unknown = sorted(set(setting) - known)
        if unknown:
            agora = [k for k in unknown if k in _AGORA_FIELDS or k in _FIXED_FIELDS]
            hint = (f"{agora} apply to the whole loop, not to one setting" if agora
                    else "check the spelling against transformers.TrainingArguments")
            raise AgoraError(f"Setting {setting} has fields a setting cannot change: {unknown} ({hint}).")
    if len({repr(sorted(s.items())) for s in settings}) != len(settings):
        raise AgoraError(f"agora_settings repeats a setting ({settings}): each setting must differ from the others.")
    return [dict(s) for s in settings]
