"""How good and how comparable sentence embeddings are: STS correlation (cosine of each pair against its human
score), the student's agreement with the parent text by text, and cross-model retrieval (the student's query
vectors searched against an index of the parent's). Everything takes plain lists and arrays."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.stats import pearsonr, spearmanr

from ..data import read_rows
from .pipeline import EmbeddingError, SentenceEncoder, cosine_rows

#: STS Benchmark's score scale.
STS_RANGE = (0.0, 5.0)


@dataclass(frozen=True)
class StsPairs:
    """Sentence pairs with a similarity score each."""

    first: list[str]
    second: list[str]
    scores: list[float]

    def __post_init__(self) -> None:
        if not len(self.first) == len(self.second) == len(self.scores):
            raise EmbeddingError(f"{len(self.first)} first sentences, {len(self.second)} second sentences and "
                                 f"{len(self.scores)} scores: pass one of each per pair.")
        if len(self.scores) < 2:
            raise EmbeddingError("A similarity correlation needs at least two scored pairs.")

    def unique_sentences(self) -> list[str]:
        """Every sentence of the pairs once, in first-seen order."""
        return list(dict.fromkeys([*self.first, *self.second]))


@dataclass(frozen=True)
class SimilarityScore:
    """Rank (Spearman) and linear (Pearson) correlation, as plain 0..1 floats, of the cosine of each pair's two
    embeddings with the pair's score."""

    spearman: float
    pearson: float
    pairs: int


@dataclass(frozen=True)
class Agreement:
    """Cosine of the student's embedding of a text with the parent's, over ``texts`` texts."""

    mean: float
    min: float
    texts: int


def read_sts_pairs(path: str | Path, *, first: str = "sentence1", second: str = "sentence2", score: str = "score",
                   score_range: tuple[float, float] = STS_RANGE) -> StsPairs:
    """Scored pairs from a ``.tsv``/``.csv``/``.jsonl`` file (STS Benchmark's columns by default); a missing
    column, a score that is not a number or lies outside ``score_range`` is refused with the row named."""
    rows = read_rows(path)
    low, high = score_range
    pairs: tuple[list[str], list[str], list[float]] = ([], [], [])
    for number, row in enumerate(rows, start=2):
        if not isinstance(row, dict) or not {first, second, score} <= set(row):
            raise EmbeddingError(f"{path} row {number} lacks the columns {[first, second, score]} (it has "
                                 f"{sorted(row) if isinstance(row, dict) else type(row).__name__}): name them with "
                                 "first=, second= and score=.")
        try:
            value = float(row[score])
        except (TypeError, ValueError):
            value = math.nan
        if not low <= value <= high:
            raise EmbeddingError(f"{path} row {number}: score {row[score]!r} is not a number in [{low:g}, {high:g}]; "
                                 "fix the row, or pass the data's score_range=(low, high).")
        for column, item in zip(pairs, (row[first], row[second], value)):
            column.append(item)
    return StsPairs(*pairs)


def similarity_scores(first: np.ndarray, second: np.ndarray, scores: Sequence[float]) -> SimilarityScore:
    """Correlation of ``cosine(first[k], second[k])`` with ``scores[k]``."""
    cosines = cosine_rows(first, second)
    if len(cosines) != len(scores):
        raise EmbeddingError(f"{len(cosines)} embedding pairs but {len(scores)} scores: pass one score per pair.")
    return SimilarityScore(float(spearmanr(cosines, scores).statistic), float(pearsonr(cosines, scores).statistic),
                           len(cosines))


def evaluate_sts(encoder: SentenceEncoder, pairs: StsPairs, batch_size: int = 64) -> SimilarityScore:
    """:func:`similarity_scores` of ``encoder``'s embeddings of ``pairs``."""
    sentences = pairs.unique_sentences()
    return score_pairs(pairs, encoder.encode(sentences, batch_size))


def score_pairs(pairs: StsPairs, vectors: np.ndarray) -> SimilarityScore:
    """:func:`similarity_scores` of ``pairs`` from ``vectors``, the embeddings of ``pairs.unique_sentences()`` in
    that order (for callers that reuse the vectors)."""
    by_text = dict(zip(pairs.unique_sentences(), vectors))
    return similarity_scores(np.stack([by_text[text] for text in pairs.first]),
                             np.stack([by_text[text] for text in pairs.second]), pairs.scores)


def agreement(student: np.ndarray, parent: np.ndarray) -> Agreement:
    """How closely the student's embeddings of some texts point where the parent's of the same texts do."""
    cosines = cosine_rows(student, parent)
    return Agreement(float(cosines.mean()), float(cosines.min()), len(cosines))


def paraphrase_queries(pairs: StsPairs, min_score: float = 4.0) -> tuple[list[str], list[str], list[int]]:
    """A retrieval set from scored pairs: (queries, corpus, relevant). The queries are the first sentences of
    the pairs scored at least ``min_score`` (near paraphrases); the corpus is every distinct second sentence of
    all the pairs (the others are distractors); ``relevant[q]`` is the corpus index of query q's own pair."""
    corpus = list(dict.fromkeys(pairs.second))
    index = {text: k for k, text in enumerate(corpus)}
    chosen = [k for k, score in enumerate(pairs.scores) if score >= min_score]
    if not chosen:
        raise EmbeddingError(f"No pair scores {min_score:g} or more: lower min_score to build retrieval queries.")
    return [pairs.first[k] for k in chosen], corpus, [index[pairs.second[k]] for k in chosen]


def retrieval_recall(queries: np.ndarray, corpus: np.ndarray, relevant: Sequence[int],
                     ks: Sequence[int] = (1, 10)) -> dict[int, float]:
    """Recall@k for each k: the share of queries whose relevant corpus row is among the k rows of highest cosine.
    ``queries`` and ``corpus`` may come from different models (a student's queries against a parent's index)
    provided they share the embedding width."""
    queries, corpus = np.asarray(queries, dtype=np.float64), np.asarray(corpus, dtype=np.float64)
    if queries.shape[1] != corpus.shape[1]:
        raise EmbeddingError(f"Query vectors have {queries.shape[1]} dimensions, the index {corpus.shape[1]}: a "
                             "student searched against a parent's index must keep the parent's embedding width.")
    if len(relevant) != len(queries):
        raise EmbeddingError(f"{len(queries)} queries but {len(relevant)} relevant ids: pass one per query.")
    similarity = _unit(queries) @ _unit(corpus).T
    own = similarity[np.arange(len(queries)), np.asarray(relevant)]
    rank = (similarity > own[:, None]).sum(axis=1)  # rows strictly closer than the relevant one
    return {k: float((rank < k).mean()) for k in ks}


def _unit(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
