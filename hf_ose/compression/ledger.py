"""A run's stages, recorded in its output folder so that a re-run does only what is not done yet.

Each stage has a fingerprint: its own settings plus the fingerprints of the stages it reads. A stage whose
fingerprint is recorded as finished is skipped and its recorded outputs returned; a changed setting changes
that stage's fingerprint and, through the chain, those of the stages after it, and only those run again. A
stage killed midway left its folder with a marker naming its fingerprint: the re-run hands the folder back to
the stage (which resumes from its own checkpoints) when the fingerprint still matches, and clears it when not.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from .. import __version__
from ..exceptions import HfOseError
from ..io import atomic_write, ensure_writable_folder

logger = logging.getLogger(__name__)

LEDGER_NAME = "stages.json"
MARKER_NAME = ".hf-ose-stage.json"


class StageLedgerError(HfOseError, ValueError):
    """The output folder holds another run's stages, or its ledger is unreadable."""


@dataclass(frozen=True)
class StageRecord:
    """A finished stage: its fingerprint, what it produced (JSON values, paths relative to the run folder)."""

    name: str
    fingerprint: str
    outputs: dict[str, Any]
    finished_at: str
    #: Wall time of the attempt that finished the stage (a resumed stage: only its last part).
    seconds: float | None = None


def fingerprint(settings: Mapping[str, Any], upstream: Sequence[str] = ()) -> str:
    """A stage's fingerprint: a digest of its settings (JSON) and its upstream stages' fingerprints."""
    payload = json.dumps({"settings": settings, "upstream": list(upstream)}, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


class StageLedger:
    """The stages of one run in ``folder`` (``stages.json``), for one ``identity`` (e.g. parent and task).

    Identities that name the same local folder in other words (``minilm``, ``./minilm/``, its absolute path) are
    the same run: :attr:`identity` then keeps the spelling the run was started with, so its stages' fingerprints
    do not change. Hub ids and other names compare as given."""

    def __init__(self, folder: str | Path, identity: Mapping[str, Any], *, overwrite: bool = False) -> None:
        self.folder = ensure_writable_folder(folder)
        self.identity = dict(identity)
        self.path = self.folder / LEDGER_NAME
        self.records: dict[str, StageRecord] = {}
        if self.path.exists():
            data = self._read()
            if _same_run(data.get("identity"), self.identity):
                self.identity = dict(data["identity"])  # the run's first spelling keeps its fingerprints
            if data.get("identity") != self.identity:
                if not overwrite:
                    raise StageLedgerError(
                        f"{self.folder} holds the stages of another run ({_describe(data.get('identity'))}), not "
                        f"of this one ({_describe(self.identity)}): choose another output folder, or pass "
                        "overwrite (--overwrite) to discard them."
                    )
                logger.warning("Discarding the stages of another run in %s.", self.folder)
            else:
                self.records = {name: StageRecord(**record) for name, record in data.get("stages", {}).items()}
        elif any(self.folder.iterdir()) and not overwrite:
            raise StageLedgerError(f"{self.folder} is not empty and holds no {LEDGER_NAME}: choose a new or empty "
                                   "output folder, or pass overwrite (--overwrite).")
        self._save()

    def run(self, name: str, settings: Mapping[str, Any], upstream: Sequence[str],
            stage: Callable[[Path], dict[str, Any]]) -> StageRecord:
        """Run ``stage`` in ``folder/name`` unless it finished with the same fingerprint; return its record.

        ``upstream`` are the fingerprints of the stages this one reads (``record.fingerprint``).
        """
        done = self.finished(name, settings, upstream)
        if done is not None:
            logger.info("Stage %s: finished earlier with the same settings; reusing it.", name)
            return done
        key = fingerprint(settings, upstream)
        stage_dir = self.folder / name
        marker = stage_dir / MARKER_NAME
        if stage_dir.exists() and _marker_key(marker) != key:
            logger.info("Stage %s: settings changed since its folder was written; starting it afresh.", name)
            shutil.rmtree(stage_dir)
        stage_dir.mkdir(parents=True, exist_ok=True)
        atomic_write(marker, json.dumps({"stage": name, "fingerprint": key}))
        self.records.pop(name, None)
        self._save()
        started = time.perf_counter()
        outputs = stage(stage_dir)
        record = StageRecord(name, key, dict(outputs), datetime.now(timezone.utc).isoformat(timespec="seconds"),
                             round(time.perf_counter() - started, 1))
        self.records[name] = record
        self._save()
        return record

    def finished(self, name: str, settings: Mapping[str, Any], upstream: Sequence[str]) -> StageRecord | None:
        """The record of stage ``name`` if it finished with these settings and upstream fingerprints (what
        :meth:`run` would reuse), else ``None``."""
        done = self.records.get(name)
        return done if done is not None and done.fingerprint == fingerprint(settings, upstream) else None

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, json.JSONDecodeError) as error:
            raise StageLedgerError(f"{self.path} is unreadable ({error}): remove it to start the run afresh.") from error
        if not isinstance(data, dict):
            raise StageLedgerError(f"{self.path} is not an hf-ose stage ledger: remove it to start afresh.")
        return data

    def _save(self) -> None:
        data = {"hf_ose_version": __version__, "identity": self.identity,
                "stages": {name: asdict(record) for name, record in self.records.items()}}
        atomic_write(self.path, json.dumps(data, indent=2, default=str))


def _marker_key(marker: Path) -> str | None:
    try:
        return json.loads(marker.read_text()).get("fingerprint")
    except (OSError, json.JSONDecodeError, AttributeError):
        return None


def _same_run(stored: Any, identity: Mapping[str, Any]) -> bool:
    """Whether a stored identity names the same run: equal keys, and each value equal or the same local path."""
    if not isinstance(stored, dict) or stored.keys() != identity.keys():
        return False
    return all(_place(stored[key]) == _place(identity[key]) for key in identity)


def _place(value: Any) -> Any:
    """A local path resolved (so that spellings of one folder compare equal); anything else as given."""
    return Path(value).resolve() if isinstance(value, str) and value and Path(value).exists() else value


def _describe(identity: Any) -> str:
    if not isinstance(identity, dict):
        return "unknown"
    return ", ".join(f"{key}={value}" for key, value in identity.items())
