"""Run a tiny ``compress`` into OUT; with KILL_AT set, SIGKILL this process midway through that stage.

Used by tests/test_compress.py: ``python compress_run_script.py PARENT TASK OUT [search|finetune|export]``.
The kill comes right after the stage has made real progress (a measured latency stored in the search cache,
the first Agora setting run recorded and the second one killed while saving its second checkpoint, the first
int8 artifact kept), as a killed user run would leave it. Every resume of a setting run from a checkpoint is
printed (``RESUMED <checkpoint>``).
"""

from __future__ import annotations

import os
import signal
import sys

from hf_ose.budgets import Budget
from hf_ose.compression.pipeline import compress
from hf_ose.compression.settings import CompressSettings
from hf_ose.compression.delivery import format_stage_times


def kill_after(owner: object, name: str, calls: int, only_in: str | None = None) -> None:
    """Make ``owner.name`` SIGKILL the process once it has returned ``calls`` times (counting only calls whose
    first argument, a path, lies under a folder named ``only_in``)."""
    original, count = getattr(owner, name), [0]

    def wrapped(*args, **kwargs):
        result = original(*args, **kwargs)
        if only_in is not None and only_in not in getattr(args[0], "parts", ()):
            return result
        count[0] += 1
        if count[0] >= calls:
            os.kill(os.getpid(), signal.SIGKILL)
        return result

    setattr(owner, name, wrapped)


def kill_while_saving(checkpoint: str) -> None:
    """SIGKILL the process while a Trainer saves ``checkpoint`` (a path ending), after its weights and optimizer
    and before its trainer state: the partial checkpoint a kill during saving leaves."""
    from transformers import TrainerState

    original = TrainerState.save_to_json

    def wrapped(self, json_path):
        if os.path.dirname(json_path).endswith(checkpoint):
            os.kill(os.getpid(), signal.SIGKILL)
        return original(self, json_path)

    TrainerState.save_to_json = wrapped


def report_resumes() -> None:
    """Print ``RESUMED <checkpoint>`` whenever an Agora setting run resumes from a Trainer checkpoint."""
    from hf_ose.agora.trainer import RunTrainer

    original = RunTrainer.train

    def wrapped(self, *args, resume_from_checkpoint=None, **kwargs):
        if resume_from_checkpoint:
            print("RESUMED", resume_from_checkpoint, flush=True)
        return original(self, *args, resume_from_checkpoint=resume_from_checkpoint, **kwargs)

    RunTrainer.train = wrapped


def main(parent: str, task: str, out: str, kill_at: str | None = None) -> None:
    report_resumes()
    if kill_at == "search":
        from hf_ose.search.cache import ScoreCache
        kill_after(ScoreCache, "put", 3)
    elif kill_at == "finetune":  # the first setting run finished, the second checkpointed once, then killed saving
        kill_while_saving(os.path.join("finetune", "model", "agora", "round-0", "setting-1", "checkpoint-2"))
    elif kill_at == "export":
        from hf_ose.compression import delivery
        kill_after(delivery, "export", 1)
    settings = CompressSettings(parent=parent, task=task, train_rows=96, max_length=32, teacher_epochs=1,
                                distill_steps=4, student_epochs=1, agora_rounds=2, latency_samples=4,
                                checkpoint_steps=1, budget=Budget(max_params=2.15e6))
    result = compress(settings, out, progress=False)
    print("FOLDER", result.folder)
    print(format_stage_times(result.seconds))


if __name__ == "__main__":
    main(*sys.argv[1:])
