"""Files hf-ose writes atomically get the permissions a plain write would give them, not tempfile's private ones."""

from __future__ import annotations

import os
import stat

import pytest

from hf_ose.io import atomic_write, usual_mode


@pytest.fixture
def umask_022():
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def test_an_atomically_written_file_is_readable_by_others(tmp_path, umask_022):
    atomic_write(tmp_path / "front.json", "{}")
    assert stat.S_IMODE((tmp_path / "front.json").stat().st_mode) == 0o644
    assert (tmp_path / "front.json").read_text() == "{}"


def test_the_usual_mode_follows_the_umask(umask_022):
    assert (usual_mode(), usual_mode(folder=True)) == (0o644, 0o755)
    os.umask(0o077)
    assert (usual_mode(), usual_mode(folder=True)) == (0o600, 0o700)
