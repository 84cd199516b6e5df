"""The search cache: one JSON line per scored candidate, appended and fsync'd as soon as it is scored.

The first line names the search (its parent); every later line carries a checksum. A killed search leaves at
worst one partial last line, which the next run reports and skips; a line from another search, or one that
fails its checksum, is reported and skipped, never trusted.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

from ..architecture import Architecture
from ..exceptions import CacheMismatchError, OutputNotWritableError

logger = logging.getLogger(__name__)

CACHE_FORMAT = "hf-ose-cache/1"
CACHE_FILE = "scores.jsonl"


def digest(value: Any) -> str:
    """A stable hex digest of a JSON-serialisable value."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


class ScoreCache:
    """Scores keyed by (kind, objective fingerprint, architecture); on disk when ``folder`` is given."""

    def __init__(self, folder: str | Path | None, search: dict[str, Any]) -> None:
        self.search = search
        self.search_id = digest(search)
        self.path = None if folder is None else Path(folder) / CACHE_FILE
        self.skipped_lines: list[tuple[int, str]] = []
        self._scores: dict[str, dict[str, Any]] = {}
        self._objectives: set[tuple[str, str]] = set()
        if self.path is not None:
            try:
                self._open()
            except OSError as error:
                raise OutputNotWritableError(
                    f"Cannot use {self.path.parent} as the search cache ({error.strerror or error}): pass a folder "
                    "you can write to as cache_dir (--cache-dir DIR)."
                ) from error

    def get(self, kind: str, objective: dict[str, Any], arch: Architecture) -> dict[str, Any] | None:
        """The cached record (``value`` and ``meta``) or ``None``."""
        return self._scores.get(self._key(kind, objective, arch))

    def put(self, kind: str, objective: dict[str, Any], arch: Architecture, value: float, **meta: Any) -> None:
        """Record a score, durably (written and fsync'd) before returning."""
        key = self._key(kind, objective, arch)
        record = {"search": self.search_id, "key": key, "kind": kind, "objective": digest(objective),
                  "arch": arch.as_dict(), "value": value, "meta": meta}
        self._remember(record)
        if self.path is not None:
            self._append({**record, "sha": digest(record)})

    def holds(self, kind: str, objective: dict[str, Any]) -> bool:
        """Whether any record of ``kind`` was scored under ``objective`` (older records do not say: they count
        as not)."""
        return (kind, digest(objective)) in self._objectives

    def __len__(self) -> int:
        return len(self._scores)

    # ---- file handling -------------------------------------------------------------------------------
    def _key(self, kind: str, objective: dict[str, Any], arch: Architecture) -> str:
        return digest({"kind": kind, "objective": objective, "arch": arch.as_dict()})

    def _open(self) -> None:
        assert self.path is not None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not self.path.exists() or self.path.stat().st_size == 0:
            self._append({"format": CACHE_FORMAT, "search": self.search_id, "describes": self.search})
            return
        with self.path.open("rb") as handle:
            lines = handle.read().split(b"\n")
        self._check_header(lines[0])
        for number, raw in enumerate(lines[1:], start=2):
            if raw.strip():
                self._load_line(number, raw)
        if lines[-1]:  # a partial last line from a killed run: end it, so the next record starts cleanly
            with self.path.open("ab") as handle:
                handle.write(b"\n")
        for number, reason in self.skipped_lines:
            logger.warning("Cache %s line %d skipped: %s.", self.path, number, reason)

    def _check_header(self, raw: bytes) -> None:
        try:
            header = json.loads(raw)
        except json.JSONDecodeError:
            header = None
        if not isinstance(header, dict) or header.get("format") != CACHE_FORMAT:
            raise CacheMismatchError(
                f"{self.path} is not an hf-ose cache (its first line is not a {CACHE_FORMAT} header). "
                "Pass another cache_dir, or remove the file."
            )
        if header.get("search") != self.search_id:
            raise CacheMismatchError(
                f"{self.path} holds the cache of a different search ({header.get('describes')}); "
                f"this search is {self.search}. Pass another cache_dir, or remove the file to start afresh."
            )

    def _load_line(self, number: int, raw: bytes) -> None:
        try:
            record = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            self.skipped_lines.append((number, "not valid JSON (a partial write?)"))
            return
        if not isinstance(record, dict) or record.get("sha") != digest({k: v for k, v in record.items() if k != "sha"}):
            self.skipped_lines.append((number, "checksum mismatch"))
            return
        if record.get("search") != self.search_id:
            self.skipped_lines.append((number, "written by a different search"))
            return
        self._remember(record)

    def _remember(self, record: dict[str, Any]) -> None:
        self._scores[record["key"]] = record
        if "objective" in record:
            self._objectives.add((record["kind"], record["objective"]))

    def _append(self, record: dict[str, Any]) -> None:
        assert self.path is not None
        line = (json.dumps(record, sort_keys=True, default=str) + "\n").encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)
