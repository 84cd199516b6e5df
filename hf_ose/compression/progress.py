"""What a compress run tells its user while it works: a numbered line on stderr as each stage starts or is
reused (``[4/9] student: inherit D=3 A=12 H=384 I=1152 + distil 200 steps``), and Trainer progress bars that say
what they count (``teacher epoch 1/2``, ``distil steps``, ``agora round 2/2, setting 1, epoch 1/3``), with the
training loss beside the bar instead of a printed line per log."""

from __future__ import annotations

import contextlib
import logging
import math
import re
import sys
from collections.abc import Iterator, Sequence
from typing import Any

import transformers.trainer
from tqdm.auto import tqdm
from transformers import ProgressCallback, TrainerCallback, TrainerControl, TrainerState, TrainingArguments

logger = logging.getLogger(__name__)

#: What the line of a stage finished in an earlier run says.
REUSED = "reused (finished in an earlier run)"
#: The log figures a labelled bar shows beside itself.
_SHOWN = ("loss", "eval_loss", "eval_accuracy", "eval_pearson", "eval_f1")


class StageReporter:
    """One line per stage of a run, ``[k/N] stage: text`` (N: the stages of this run), to stderr and to the log
    at INFO; ``quiet`` writes to the log only."""

    def __init__(self, stages: Sequence[str], *, quiet: bool = False) -> None:
        self.stages = list(stages)
        self.quiet = quiet

    def started(self, stage: str, what: str) -> None:
        """``stage`` starts (or resumes an interrupted attempt) and does ``what``."""
        self.say(stage, what)

    def reused(self, stage: str) -> None:
        """``stage`` finished in an earlier run with the same settings: its outputs are reused."""
        self.say(stage, REUSED)

    def say(self, stage: str, text: str) -> None:
        line = f"[{self.stages.index(stage) + 1}/{len(self.stages)}] {stage}: {text}"
        logger.info(line)
        if not self.quiet:
            tqdm.write(line, file=sys.stderr)  # above any open bar, never through it
            sys.stderr.flush()


class LabelledProgress(ProgressCallback):
    """The Trainer's progress bar, labelled: ``label``, then the Agora round (of ``rounds``) and setting read from
    the run's folder (``.../agora/round-R/setting-I``) when ``rounds`` is given, then the epoch, or ``steps`` for
    a run of fixed steps. The evaluation bar is ``<label> evaluation``; loss and the task's metric go to the
    training bar's postfix."""

    def __init__(self, label: str, rounds: int | None = None) -> None:
        super().__init__()
        self.label, self.rounds = label, rounds

    def describe(self, args: TrainingArguments, state: TrainerState) -> str:
        """What the training bar counts now."""
        parts = []
        run = re.search(r"round-(\d+)[/\\]setting-(\d+)", str(args.output_dir))
        if run and self.rounds:
            parts.append(f"round {int(run[1]) + 1}/{self.rounds}, setting {int(run[2]) + 1}")
        if args.max_steps > 0:
            parts.append("steps")
        else:
            epochs = max(1, math.ceil(args.num_train_epochs))
            parts.append(f"epoch {min(int(state.epoch or 0) + 1, epochs)}/{epochs}")
        return f"{self.label} {', '.join(parts)}"

    def on_train_begin(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
                       **kwargs: Any) -> None:
        super().on_train_begin(args, state, control, **kwargs)
        self._relabel(args, state)

    def on_epoch_begin(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
                       **kwargs: Any) -> None:
        self._relabel(args, state)

    def on_prediction_step(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
                           eval_dataloader: Any = None, **kwargs: Any) -> None:
        opened = self.prediction_bar is None
        super().on_prediction_step(args, state, control, eval_dataloader=eval_dataloader, **kwargs)
        if opened and self.prediction_bar is not None:
            self.prediction_bar.set_description(f"{self.label} evaluation")

    def on_log(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
               logs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        shown = {key: f"{value:.4g}" for key, value in (logs or {}).items()
                 if key in _SHOWN and isinstance(value, (int, float))}
        if self.training_bar is not None and shown:
            self.training_bar.set_postfix(shown, refresh=False)

    def _relabel(self, args: TrainingArguments, state: TrainerState) -> None:
        if self.training_bar is not None:
            self.training_bar.set_description(self.describe(args, state))


@contextlib.contextmanager
def trainer_bars(label: str, *, rounds: int | None = None, show: bool = True) -> Iterator[LabelledProgress | None]:
    """Every Trainer made inside (with ``disable_tqdm=False``) shows a :class:`LabelledProgress` bar, or none when
    not ``show``, in place of its default unlabelled one. It swaps the default progress callback
    ``transformers.trainer`` reads as each Trainer is made (train_teacher's and AgoraTrainer's inner Trainers take
    no callbacks from compress), and restores it."""
    default = transformers.trainer.DEFAULT_PROGRESS_CALLBACK  # AttributeError if transformers renames it
    bar = LabelledProgress(label, rounds) if show else None
    transformers.trainer.DEFAULT_PROGRESS_CALLBACK = bar if show else TrainerCallback()
    try:
        yield bar
    finally:
        transformers.trainer.DEFAULT_PROGRESS_CALLBACK = default
