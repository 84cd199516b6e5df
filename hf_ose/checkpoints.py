"""Trainer checkpoints to resume from: the newest complete one, never one a killed process left half-written."""

from __future__ import annotations

import json
import logging
import re
import shutil
from pathlib import Path

from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

logger = logging.getLogger(__name__)

#: ``Trainer._save_checkpoint`` writes this file last: a checkpoint without it (or with it cut short) is partial.
TRAINER_STATE = "trainer_state.json"
_NAME = re.compile(rf"^{PREFIX_CHECKPOINT_DIR}-(\d+)$")


def last_complete_checkpoint(folder: str | Path) -> str | None:
    """The newest checkpoint in ``folder`` whose trainer state was written in full; ``None`` if there is none.
    Partial checkpoints (a process killed while saving) are removed, with a warning: nothing can resume from
    them, and ``Trainer`` would otherwise pick one as the latest."""
    folder = Path(folder)
    if not folder.is_dir():
        return None
    found = sorted(((int(match.group(1)), path) for path in folder.iterdir()
                    if path.is_dir() and (match := _NAME.match(path.name))), reverse=True)
    for _, path in found:
        if _complete(path):
            return str(path)
        logger.warning("Removing the partial checkpoint %s (its process was stopped while saving it).", path)
        shutil.rmtree(path)
    return None


def _complete(checkpoint: Path) -> bool:
    try:
        json.loads((checkpoint / TRAINER_STATE).read_text())
    except (OSError, ValueError):
        return False
    return True
