"""Torch state for a block of code: intra-op thread count and random seed, restored afterwards; the batch type."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch

#: One tokenized batch: ``input_ids``, ``attention_mask`` (and ``token_type_ids`` where the model has them).
Batch = dict[str, torch.Tensor]


@contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Use ``threads`` intra-op threads in the block (``None``: leave the count as it is), then restore it."""
    previous = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Run the block under ``seed`` without disturbing the caller's random state."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield
