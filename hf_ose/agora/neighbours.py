"""Nearest neighbours over an unlabelled pool, in the encoder's mean-pooled embedding space (cosine)."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Iterator, Sequence

import torch
import torch.nn.functional as F
from transformers import PreTrainedModel

from ..distillation.losses import mean_pool
from .interfaces import AgoraError, Point, Sampler
from .points import collect, copy_key, sides, with_side

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase


class NearestNeighbourSampler(Sampler):
    """Returns the pool sentences nearest each input by cosine similarity of ``encoder``'s mean-pooled last
    hidden states (the parent's sentence embedding), never one that copies the input. The pool is flattened to
    its distinct sentences (pairs give both sides) and embedded once, on first use. For a pair, each sample
    replaces one side (drawn from the seed) by that side's next nearest sentence; for a sentence, the seed
    plays no part: the nearest are the nearest."""

    name = "nearest-neighbours"

    def __init__(self, encoder: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, pool: Sequence[Point], *,
                 batch_size: int = 32, max_length: int = 128) -> None:
        self.pool = list(dict.fromkeys(text for point in pool for text in sides(point) if text.strip()))
        if not self.pool:
            raise AgoraError("The nearest-neighbour pool holds no text: pass unlabelled sentences (e.g. the train "
                             "split's texts) as `pool`.")
        if batch_size < 1 or max_length < 2:
            raise AgoraError(f"batch_size must be at least 1 and max_length at least 2, got {batch_size}, "
                             f"{max_length}.")
        self.encoder, self.tokenizer = encoder, tokenizer
        self.batch_size, self.max_length = batch_size, max_length
        self._pool_embeddings: torch.Tensor | None = None

    def embed(self, texts: Sequence[str]) -> torch.Tensor:
        """Unit-length mean-pooled embeddings of ``texts``, one row each, in batches, in eval mode."""
        base = getattr(self.encoder, "base_model", self.encoder)
        training = self.encoder.training
        self.encoder.eval()
        rows = []
        try:
            with torch.inference_mode():
                for start in range(0, len(texts), self.batch_size):
                    batch = self.tokenizer(list(texts[start:start + self.batch_size]), padding=True,
                                           truncation=True, max_length=self.max_length, return_tensors="pt")
                    batch = {k: v.to(self.encoder.device) for k, v in batch.items()}
                    hidden = base(**batch).last_hidden_state
                    rows.append(mean_pool(hidden, batch["attention_mask"]).float().cpu())
        finally:
            self.encoder.train(training)
        return F.normalize(torch.cat(rows), dim=-1)

    def sample(self, points: Sequence[Point], per_point: int, *, tokenizer: PreTrainedTokenizerBase,
               max_length: int, seed: int) -> list[list[Point]]:
        """Up to ``per_point`` pool neighbours per point (fewer when the pool runs out), within ``max_length``."""
        if self._pool_embeddings is None:
            self._pool_embeddings = self.embed(self.pool)
        queries = list(dict.fromkeys(text for point in points for text in sides(point)))
        if not queries:
            return []
        similarity = self.embed(queries) @ self._pool_embeddings.T
        order = torch.argsort(similarity, dim=1, descending=True, stable=True).tolist()
        ranked = {query: [self.pool[j] for j in row] for query, row in zip(queries, order)}
        out = []
        for index, point in enumerate(points):
            rng = random.Random(f"{seed}/{index}")
            candidates = self._candidates(point, ranked, rng, tokenizer, max_length)
            out.append(collect(point, candidates, per_point, tokenizer, max_length))
        return out

    def _candidates(self, point: Point, ranked: dict[str, list[str]], rng: random.Random,
                    tokenizer: PreTrainedTokenizerBase, max_length: int) -> Iterator[tuple[Point, int | None]]:
        """The point with one side replaced by that side's next nearest pool sentence, copies of it skipped."""
        texts = sides(point)
        keys = [copy_key(text, tokenizer, max_length) for text in texts]
        remaining = [iter(t for t in ranked[text] if copy_key(t, tokenizer, max_length) != key)
                     for text, key in zip(texts, keys)]
        open_sides = list(range(len(texts)))
        while open_sides:
            side = rng.choice(open_sides) if len(open_sides) > 1 else open_sides[0]
            neighbour = next(remaining[side], None)
            if neighbour is None:
                open_sides.remove(side)
                continue
            yield with_side(point, side, neighbour), (1 - side if len(texts) == 2 else None)
