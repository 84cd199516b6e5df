"""What ``hf-ose compress`` is asked to do: one frozen, validated record, split per stage for the ledger."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from ..budgets import Budget
from ..exceptions import HfOseError
from ..latency.settings import RUNTIME_SPECS  # the runtimes compress exports to, measures, and picks the fastest of

#: With no budget given: the lowest-error point at least this many times faster than the parent (by the
#: search's latency, partly predicted). With the data-free prior (parameter counting) as the error, that is the
#: largest student comfortably twice as fast (the margin covers the predictor's error, under 10% on average),
#: never the degenerate W-best point of a small parent (README, "hf-ose compress").
DEFAULT_MIN_SPEEDUP = 2.2
#: The precisions compress exports at (``hf-ose export --precision``'s, less ONNX-only static int8).
PRECISIONS: tuple[str, ...] = ("fp32", "int8")
#: ``--quick``: a smoke run of every stage on a few rows (all-MiniLM-L6-v2 on SST-2: benchmarks/README.md): one
#: teacher epoch, 20 distillation steps, Agora's two settings for one epoch each, then the better one again on
#: the points generated near its development mistakes (Agora drops half the settings a round: with one setting
#: it would stop after the first round, generating nothing), 4 latency samples, ONNX Runtime only.
QUICK: dict[str, Any] = {
    "train_rows": 512, "validation_rows": 128, "test_rows": 128, "agreement_rows": 128, "teacher_epochs": 1.0,
    "distill_steps": 20, "student_epochs": 1.0, "agora_rounds": 2, "latency_samples": 4,
}
#: Options added after compress runs were first recorded: at its default such an option stays out of a stage's
#: fingerprint, so a run recorded before it existed resumes without re-running a stage.
ADDED_LATER: tuple[str, ...] = ("pool_labelled",)


class CompressSettingsError(HfOseError, ValueError):
    """A compress option is out of range or contradicts another."""


@dataclass(frozen=True)
class CompressSettings:
    """Every option of a compress run. ``budget``: limits on the chosen point (default
    ``min_speedup=DEFAULT_MIN_SPEEDUP``); ``error``: the search's error objective (``prior``, parameter
    counting: in README's inheritance benchmark it ordered similar-size students as well as either measured
    surrogate, at no cost); ``train_rows``: a cap on the training rows every fine-tune reads, ``validation_rows``
    and ``test_rows`` on the development and test rows (``None``: all); ``precision``: the artifacts' precision
    (``int8``: an int8 artifact failing parity falls back to the fp32 one of its backend); ``runtime``: the one
    runtime (of ``precision``) to export to (``None``: every installed one, shipping the fastest measured on this
    CPU); ``checkpoint_steps``: how often the teacher and Agora fine-tunings save a checkpoint that a killed
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
    validation_rows: int | None = None
    test_rows: int | None = None
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
    precision: str = "int8"
    runtime: str | None = None
    seed: int = 0
    threads: int | None = None
    checkpoint_steps: int = 100
    min_agreement: float = 0.99
    agreement_rows: int = 1000
    #: A file of unlabelled in-domain text: Agora samples its points from it (AgoraArguments.agora_unlabelled).
    unlabelled: str | None = None
    #: Random ``unlabelled`` texts the teacher labels before Agora's loop, added as training rows (soft targets);
    #: -1: the whole file (AgoraArguments.agora_pool_labelled). With scarce labels, the measured best use of a pool.
    pool_labelled: int = 0

    def __post_init__(self) -> None:
        if self.error != "prior":
            raise CompressSettingsError(f"error={self.error!r}: compress searches with the data-free prior "
                                        "('prior'); run `hf-ose extract --error ...` to compare surrogates.")
        if self.precision not in PRECISIONS:
            raise CompressSettingsError(f"precision={self.precision!r}: choose one of {', '.join(PRECISIONS)}.")
        if self.runtime is not None and self.runtime not in runtimes_at(self.precision):
            spec = RUNTIME_SPECS.get(self.runtime)
            conflict = f" runs {spec.precision} artifacts, not precision={self.precision!r}" if spec else ""
            raise CompressSettingsError(f"runtime={self.runtime!r}{conflict}: choose one of "
                                        f"{', '.join(runtimes_at(self.precision))}, or leave it out to take the "
                                        "fastest on this CPU.")
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
        if not isinstance(self.pool_labelled, int) or self.pool_labelled < -1:
            raise CompressSettingsError(f"pool_labelled={self.pool_labelled!r}: give a number of pool texts >= 0, "
                                        "or -1 for the whole file.")
        if self.pool_labelled and self.unlabelled is None:
            raise CompressSettingsError(f"pool_labelled={self.pool_labelled} draws from the unlabelled file: give "
                                        "unlabelled (--unlabelled FILE), or leave pool_labelled out.")
        for name in ("train_rows", "validation_rows", "test_rows"):
            if getattr(self, name) is not None and getattr(self, name) < 8:
                raise CompressSettingsError(f"{name}={getattr(self, name)}: give at least 8 rows, or None for all.")

    @classmethod
    def quick(cls, parent: str, task: str, **options: Any) -> CompressSettings:
        """The :data:`QUICK` smoke run of ``parent`` on ``task``, exporting to ONNX Runtime only; ``options``
        override any of its values."""
        precision = options.get("precision", cls.precision)
        return cls(parent=parent, task=task, **{**QUICK, "runtime": runtime_for("onnx", precision), **options})

    def settings_for(self, *names: str) -> dict[str, Any]:
        """The named options as JSON values: what a stage's fingerprint covers (an :data:`ADDED_LATER` option only
        when it is not at its default)."""
        values = asdict(self)
        values["budget"] = self.budget.limits()
        defaults = {option.name: option.default for option in fields(self) if option.name in ADDED_LATER}
        return {name: values[name] for name in names if name not in defaults or values[name] != defaults[name]}


def runtimes_at(precision: str) -> tuple[str, ...]:
    """The runtimes of artifacts at ``precision``, in declaration order (one per export backend)."""
    return tuple(name for name, spec in RUNTIME_SPECS.items() if spec.precision == precision)


def runtime_for(backend: str, precision: str) -> str:
    """The runtime of ``backend``'s artifact at ``precision`` (``onnx``, ``int8``: ``onnxruntime-int8``)."""
    return next(name for name, spec in RUNTIME_SPECS.items() if (spec.backend, spec.precision) == (backend, precision))
