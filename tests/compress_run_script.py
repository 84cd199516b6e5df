"""Run a tiny ``compress`` into OUT; with KILL_AT set, SIGKILL this process midway through that stage.

Used by tests/test_compress.py: ``python compress_run_script.py PARENT TASK OUT [search|finetune|export]``.
The kill comes right after the stage has made real progress (a measured latency stored in the search cache,
the first Agora setting run recorded, the first int8 artifact kept), as a killed user run would leave it.
"""

from __future__ import annotations

import os
import signal
import sys

from hf_ose.budgets import Budget
from hf_ose.compression.pipeline import compress
from hf_ose.compression.settings import CompressSettings


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


def main(parent: str, task: str, out: str, kill_at: str | None = None) -> None:
    if kill_at == "search":
        from hf_ose.search.cache import ScoreCache
        kill_after(ScoreCache, "put", 3)
    elif kill_at == "finetune":
        from hf_ose.agora import trainer
        kill_after(trainer, "save_run", 1, only_in="finetune")
    elif kill_at == "export":
        from hf_ose.compression import delivery
        kill_after(delivery, "export", 1)
    settings = CompressSettings(parent=parent, task=task, train_rows=96, max_length=32, teacher_epochs=1,
                                distill_steps=4, student_epochs=1, agora_rounds=2, latency_samples=4,
                                budget=Budget(max_params=2.15e6))
    result = compress(settings, out, progress=False)
    print("FOLDER", result.folder)


if __name__ == "__main__":
    main(*sys.argv[1:])
