"""The families hf-ose describes out of the box: search and weight inheritance, or (OPT) the search only."""

from __future__ import annotations

from .base import FamilyAdapter
from .layout import BERT_LIKE, DISTILBERT, GPT2, LLAMA_LIKE

__all__ = ["BUILTIN_ADAPTERS"]

BUILTIN_ADAPTERS: tuple[FamilyAdapter, ...] = (
    FamilyAdapter(name="BERT", model_types=("bert",), layout=BERT_LIKE),
    FamilyAdapter(name="RoBERTa", model_types=("roberta", "xlm-roberta", "camembert"), layout=BERT_LIKE),
    FamilyAdapter(name="ELECTRA", model_types=("electra",), layout=BERT_LIKE),
    FamilyAdapter(name="DistilBERT", model_types=("distilbert",), intermediate="hidden_dim", layout=DISTILBERT),
    FamilyAdapter(
        name="GPT-2",
        model_types=("gpt2",),
        intermediate="n_inner",
        intermediate_default=lambda config: 4 * config.hidden_size,
        layout=GPT2,
    ),
    FamilyAdapter(name="Llama", model_types=("llama", "mistral", "qwen2"), layout=LLAMA_LIKE),
    FamilyAdapter(name="OPT", model_types=("opt",), intermediate="ffn_dim"),
)
