"""What ``hf-ose compress`` is asked to do: one frozen, validated record, split per stage for the ledger."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..budgets import Budget
from ..exceptions import HfOseError
from ..latency import INT8_RUNTIMES  # the int8 runtimes compress exports, measures, and picks the fastest of

#: With no budget given: the lowest-error point at least this many times faster than the parent (by the
#: search's latency, partly predicted). With the data-free prior (parameter counting) as the error, that is the
#: largest student comfortably twice as fast (the margin covers the predictor's error, under 10% on average),
#: never the degenerate W-best point of a small parent (README, "hf-ose compress").
DEFAULT_MIN_SPEEDUP = 2.2


class CompressSettingsError(HfOseError, ValueError):
    """A compress option is out of range or contradicts another."""


@dataclass(frozen=True)
class CompressSettings:
    """Every option of a compress run. ``budget``: limits on the chosen point (default
    ``min_speedup=DEFAULT_MIN_SPEEDUP``); ``error``: the search's error objective (``prior``, parameter
    counting: in README's inheritance benchmark it ordered similar-size students as well as either measured
    surrogate, at no cost); ``train_rows``: a cap on the training rows every fine-tune reads (``None``: all);
    ``runtime``: the int8 runtime of the artifact (``None``: the fastest of :data:`INT8_RUNTIMES` measured on
    this CPU); ``checkpoint_steps``: how often the teacher and Agora fine-tunings save a checkpoint that a killed
    run resumes from (it changes no result, so no stage re-runs for it); ``min_agreement``: the artifact shipped
    is the fastest agreeing with the student in PyTorch on at least this share of development predictions, with
    95% confidence, measured on the first ``agreement_rows`` development rows (if none does, the most agreeing)."""

    parent: str
    task: str
    teacher: str | None = None
    budget: Budget = field(default_factory=lambda: Budget(min_speedup=DEFAULT_MIN_SPEEDUP))
    error: str = "prior"
    epsilon: float = 0.1
    latency_samples: int = 12
    train_rows: int | None = 8000
    max_length: int = 64
    teacher_epochs: float = 2.0
    distill_steps: int = 200
    student_epochs: float = 3.0
    learning_rate: float = 1e-4
    agora_rounds: int = 2
    agora_settings: tuple[tuple[tuple[str, Any], ...], ...] = (
        (("learning_rate", 1e-4),), (("learning_rate", 5e-5),),
    )
    samples_per_mistake: int = 2
    runtime: str | None = None
    seed: int = 0
    threads: int | None = None
    checkpoint_steps: int = 100
    min_agreement: float = 0.99
    agreement_rows: int = 1000
    #: A file of unlabelled in-domain text: Agora samples its points from it (AgoraArguments.agora_unlabelled).
    unlabelled: str | None = None

    def __post_init__(self) -> None:
        if self.error != "prior":
            raise CompressSettingsError(f"error={self.error!r}: compress searches with the data-free prior "
                                        "('prior'); run `hf-ose extract --error ...` to compare surrogates.")
        if self.runtime is not None and self.runtime not in INT8_RUNTIMES:
            raise CompressSettingsError(f"runtime={self.runtime!r}: choose one of {', '.join(INT8_RUNTIMES)}, "
                                        "or leave it out to take the fastest on this CPU.")
        for name in ("latency_samples", "distill_steps", "agora_rounds", "samples_per_mistake", "max_length",
                     "checkpoint_steps", "agreement_rows"):
            if getattr(self, name) < 1:
                raise CompressSettingsError(f"{name}={getattr(self, name)}: give 1 or more.")
        for name in ("teacher_epochs", "student_epochs", "learning_rate"):
            if not getattr(self, name) > 0:
                raise CompressSettingsError(f"{name}={getattr(self, name)}: give a positive number.")
        if not 0 < self.min_agreement <= 1:
            raise CompressSettingsError(f"min_agreement={self.min_agreement}: give a share of predictions in (0, 1].")
        if self.unlabelled is not None and not Path(self.unlabelled).is_file():
            raise CompressSettingsError(f"unlabelled={self.unlabelled!r} is not a file: give a file of unlabelled "
                                        "in-domain text (.txt one a line, or .jsonl/.csv/.tsv), or leave it out.")
        if self.train_rows is not None and self.train_rows < 8:
            raise CompressSettingsError(f"train_rows={self.train_rows}: give at least 8 rows, or None for all.")

    def settings_for(self, *names: str) -> dict[str, Any]:
        """The named options as JSON values: what a stage's fingerprint covers."""
        values = asdict(self)
        values["budget"] = self.budget.limits()
        return {name: values[name] for name in names}
