"""Small configs of many families, built from transformers' own config classes (no download): the one table
the tests share. ``FAMILY_CONFIGS[name]()`` gives the default size; keyword arguments in the common field
names (``num_hidden_layers``, ``hidden_size``, ``num_attention_heads``, ``intermediate_size``, ``vocab_size``)
resize it, e.g. ``FAMILY_CONFIGS["bert"](**TINY)``."""

from __future__ import annotations

from typing import Any, Callable

import transformers as T

COMMON = dict(num_hidden_layers=4, hidden_size=128, num_attention_heads=4, intermediate_size=256)
GQA = dict(num_key_value_heads=2, vocab_size=1000)
#: The model types weight inheritance supports out of the box.
INHERITABLE = ("bert", "roberta", "xlm-roberta", "camembert", "electra", "distilbert", "gpt2", "llama", "mistral",
               "qwen2")
#: The size weight-inheritance tests use: every family builds and runs in milliseconds.
TINY = dict(hidden_size=32, intermediate_size=64, vocab_size=101)


def _family(cls: type[T.PretrainedConfig], intermediate: str = "intermediate_size", **fixed: Any,
            ) -> Callable[..., T.PretrainedConfig]:
    """A factory of ``cls`` configs: the common sizes, the family's own fields, then the caller's sizes
    (``intermediate_size`` stored under the family's own name, e.g. DistilBERT's ``hidden_dim``)."""

    def make(**sizes: Any) -> T.PretrainedConfig:
        values = {**COMMON, **fixed, **sizes}
        values[intermediate] = values.pop("intermediate_size")
        return cls(**values)

    return make


FAMILY_CONFIGS: dict[str, Callable[..., T.PretrainedConfig]] = {
    "bert": _family(T.BertConfig),
    "roberta": _family(T.RobertaConfig),
    "xlm-roberta": _family(T.XLMRobertaConfig, vocab_size=2000),
    "camembert": _family(T.CamembertConfig, vocab_size=2000),
    "electra": lambda **sizes: _family(T.ElectraConfig)(embedding_size=sizes.get("hidden_size", 128) // 2, **sizes),
    "distilbert": _family(T.DistilBertConfig, intermediate="hidden_dim"),
    "deberta-v2": _family(T.DebertaV2Config, vocab_size=1000),
    "mpnet": _family(T.MPNetConfig),
    "albert": _family(T.AlbertConfig),
    # n_inner=None is GPT-2's own default, 4 x hidden, unless a test sets intermediate_size.
    "gpt2": _family(T.GPT2Config, intermediate="n_inner", intermediate_size=None, vocab_size=1000, bos_token_id=0,
                    eos_token_id=0, pad_token_id=0),
    "llama": _family(T.LlamaConfig, **GQA, pad_token_id=0),
    "mistral": _family(T.MistralConfig, **GQA, head_dim=None, pad_token_id=0),
    "qwen2": _family(T.Qwen2Config, **GQA, pad_token_id=0),
    "gemma": _family(T.GemmaConfig, **GQA, head_dim=48),
    "opt": _family(T.OPTConfig, intermediate="ffn_dim", word_embed_proj_dim=128),
    "modernbert": _family(T.ModernBertConfig, num_hidden_layers=6),
}
