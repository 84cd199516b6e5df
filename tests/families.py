"""Small configs of many families, built from transformers' own config classes (no download)."""

from __future__ import annotations

import transformers as T

COMMON = dict(num_hidden_layers=4, hidden_size=128, num_attention_heads=4, intermediate_size=256)
GQA = dict(COMMON, num_key_value_heads=2, vocab_size=1000)

FAMILY_CONFIGS = {
    "bert": lambda: T.BertConfig(**COMMON),
    "roberta": lambda: T.RobertaConfig(**COMMON),
    "xlm-roberta": lambda: T.XLMRobertaConfig(**COMMON, vocab_size=2000),
    "camembert": lambda: T.CamembertConfig(**COMMON, vocab_size=2000),
    "electra": lambda: T.ElectraConfig(**COMMON, embedding_size=64),
    "distilbert": lambda: T.DistilBertConfig(n_layers=4, dim=128, n_heads=4, hidden_dim=256),
    "deberta-v2": lambda: T.DebertaV2Config(**COMMON, vocab_size=1000),
    "mpnet": lambda: T.MPNetConfig(**COMMON),
    "albert": lambda: T.AlbertConfig(**COMMON),
    "gpt2": lambda: T.GPT2Config(n_layer=4, n_embd=128, n_head=4, vocab_size=1000),
    "llama": lambda: T.LlamaConfig(**GQA),
    "mistral": lambda: T.MistralConfig(**GQA, head_dim=None),
    "qwen2": lambda: T.Qwen2Config(**GQA),
    "gemma": lambda: T.GemmaConfig(**GQA, head_dim=48),
    "opt": lambda: T.OPTConfig(num_hidden_layers=4, hidden_size=128, num_attention_heads=4, ffn_dim=256, word_embed_proj_dim=128),
    "modernbert": lambda: T.ModernBertConfig(**dict(COMMON, num_hidden_layers=6)),
}
