"""Sentence-transformers parents end to end: their pooling pipeline, embedding distillation, STS and cross-model
retrieval evaluation, and int8 artifacts laid out under the file names sentence-transformers loads."""

from .artifacts import EmbeddingArtifact, artifact_encoder, export_int8, onnx_int8_file, onnx_variant
from .card import sentence_similarity_card
from .distillation import (
    EmbeddingDistillationLog, EmbeddingDistillationSettings, distil_embeddings, teacher_targets,
)
from .evaluation import (
    Agreement, SimilarityScore, StsPairs, agreement, evaluate_sts, paraphrase_queries, read_sts_pairs,
    retrieval_recall, similarity_scores,
)
from .pipeline import EmbeddingError, Pooling, SentenceEncoder

__all__ = [
    "Agreement", "EmbeddingArtifact", "EmbeddingDistillationLog", "EmbeddingDistillationSettings", "EmbeddingError", "Pooling",
    "SentenceEncoder", "SimilarityScore", "StsPairs", "agreement", "artifact_encoder", "distil_embeddings", "evaluate_sts",
    "export_int8", "onnx_int8_file", "onnx_variant",
    "paraphrase_queries", "read_sts_pairs", "retrieval_recall", "sentence_similarity_card", "similarity_scores", "teacher_targets",
]
