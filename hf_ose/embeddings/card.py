"""The model card of a distilled sentence-transformers student: task ``sentence-similarity``, library
``sentence-transformers``, and the measured STS correlations in its model-index (:mod:`hf_ose.publish.card`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..publish.card import CardInputs, LatencyRow, LatencySetup, ModelSize, Score
from .artifacts import EmbeddingArtifact
from .evaluation import SimilarityScore

if TYPE_CHECKING:
    from transformers import PretrainedConfig

PIPELINE_TAG = "sentence-similarity"
LIBRARY = "sentence-transformers"
TAGS = ("sentence-transformers", "feature-extraction", "embedding-distillation")


def sentence_similarity_card(name: str, base_model: str, student: PretrainedConfig, parent: PretrainedConfig, *,
                             score: SimilarityScore, parent_score: SimilarityScore | None = None,
                             dataset: str = "sentence-transformers/stsb", distillation: str | None = None,
                             artifacts: Sequence[EmbeddingArtifact] = (), latency: Sequence[LatencyRow] = (),
                             latency_setup: LatencySetup | None = None, license: str | None = None) -> CardInputs:
    """:class:`~hf_ose.publish.CardInputs` of an embedding student: Spearman and Pearson of the cosine of its
    embeddings with ``dataset``'s test scores (beside the parent's), and a note per int8 artifact saying how
    sentence-transformers loads it. Write it with :func:`hf_ose.publish.write_card`."""
    scores = [Score(metric, getattr(score, metric), getattr(parent_score, metric, None)) for metric in ("spearman", "pearson")]
    notes = [f"Load it with SentenceTransformer(folder); its embeddings are distilled to the parent's, so they can "
             f"be searched against an index the parent built. Scores: cosine similarity against {score.pairs} "
             "human-scored test pairs."]
    notes += [f"int8 {artifact.backend} artifact `{artifact.file_name}` (sentence cosine to PyTorch: mean "
              f"{artifact.agreement.mean:.4f}, min {artifact.agreement.min:.4f}): {artifact.load_call()}; that "
              "backend needs Optimum." for artifact in artifacts]
    return CardInputs(name=name, base_model=base_model, student=ModelSize.of(student), parent=ModelSize.of(parent),
                      pipeline_tag=PIPELINE_TAG, library_name=LIBRARY, license=license, dataset=dataset,
                      scores=scores, latency=latency, latency_setup=latency_setup, distillation=distillation,
                      tags=TAGS, notes=notes)
