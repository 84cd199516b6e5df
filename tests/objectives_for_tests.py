"""Error objectives for the resume tests, importable from a subprocess."""

from __future__ import annotations

import os

from hf_ose.adapters import get_adapter
from hf_ose.objectives.error import DataFreePrior


class RecordingPrior(DataFreePrior):
    """The data-free prior (same fingerprint, so the same cache entries), recording what it evaluates and,
    with ``die_after``, killing the process abruptly after that many evaluations."""

    def __init__(self, die_after: int | None = None) -> None:
        super().__init__()
        self.die_after = die_after
        self.evaluated = []

    def __call__(self, config):
        if self.die_after is not None and len(self.evaluated) == self.die_after:
            os._exit(17)
        self.evaluated.append(get_adapter(config).read(config))
        return super().__call__(config)
