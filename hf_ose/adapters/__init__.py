"""Family adapters: how each model family names its architecture and lays out its weights, in one registry."""

from .builtin import BERT_LIKE, DISTILBERT, GPT2, LLAMA_LIKE, FamilyLayout
from .family import (
    FAMILIES, FOLLOWS_HIDDEN, GENERIC, AttentionShape, FamilyAdapter, FamilyRegistrationError, get_adapter,
    register_family, supported_families,
)

__all__ = [
    "AttentionShape", "BERT_LIKE", "DISTILBERT", "FAMILIES", "FOLLOWS_HIDDEN", "FamilyAdapter", "FamilyLayout",
    "FamilyRegistrationError", "GENERIC", "GPT2", "LLAMA_LIKE", "get_adapter", "register_family", "supported_families",
]
