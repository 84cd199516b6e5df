"""Files written atomically, and output folders checked before any work is done."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .exceptions import OutputNotWritableError


def usual_mode(*, folder: bool = False) -> int:
    """The permissions ``open`` or ``mkdir`` would give a new file (0o666) or folder (0o777) under the process's
    umask (0o644 / 0o755 with the usual 022), instead of the private 0o600 / 0o700 of ``tempfile``."""
    umask = os.umask(0)
    os.umask(umask)
    return (0o777 if folder else 0o666) & ~umask


def atomic_write(path: str | Path, data: str | bytes) -> None:
    """Write ``data`` to a temporary file beside ``path``, fsync it, then rename it over ``path`` (with the
    permissions a plain write would give it)."""
    path = Path(path)
    mode = "wb" if isinstance(data, bytes) else "w"
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, usual_mode())
        with os.fdopen(fd, mode) as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def ensure_writable_folder(folder: str | Path) -> Path:
    """Create ``folder`` if needed and check that files can be written in it."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        raise OutputNotWritableError(
            f"Cannot write to the output folder {folder} ({error.strerror or error}). "
            "Choose a folder you can write to (--out DIR)."
        ) from error
    return folder
