"""The families hf-ose describes out of the box, and where a family keeps its layers and, inside a layer, its
attention and feed-forward weights.

A :class:`FamilyLayout` names the modules *inside one layer* whose weights have head-structured or
feed-forward axes; weight inheritance handles everything else (embeddings, norms, pooler, output heads) by shape.
It is attached to a :class:`~hf_ose.adapters.FamilyAdapter`: a family registered with a layout is inheritable.
The built-in families (search and weight inheritance, or, for OPT, the search only) are registered on import.
"""

from __future__ import annotations

from dataclasses import dataclass

from .family import FamilyAdapter, FamilyRegistrationError, register_family

__all__ = ["BERT_LIKE", "BUILTIN_ADAPTERS", "DISTILBERT", "FamilyLayout", "GPT2", "LLAMA_LIKE"]


@dataclass(frozen=True)
class FamilyLayout:
    """Module paths of one family.

    ``layers``: the ``nn.ModuleList`` of transformer layers (a suffix of its full name, e.g. ``encoder.layer``).
    Inside one layer: ``query``/``key``/``value`` projections, or ``fused_qkv`` for one fused projection
    (GPT-2's ``c_attn``); the attention ``output`` projection; the feed-forward input projections ``ffn_in``
    (two for gated MLPs) and output projection ``ffn_out``. ``post_norm``: the layer ends with a norm (BERT)
    rather than normalising its sublayers' inputs (GPT-2). ``rotary``: rotary position embeddings (Llama).
    """

    layers: str
    output: str
    ffn_in: tuple[str, ...]
    ffn_out: str
    query: str | None = None
    key: str | None = None
    value: str | None = None
    fused_qkv: str | None = None
    post_norm: bool = False
    rotary: bool = False

    def __post_init__(self) -> None:
        named = [path is not None for path in (self.query, self.key, self.value)]
        if not (all(named) if self.fused_qkv is None else not any(named)):
            raise FamilyRegistrationError(
                f"A FamilyLayout names either query, key and value (all three) or fused_qkv, not both and not "
                f"neither; got query={self.query!r}, key={self.key!r}, value={self.value!r}, "
                f"fused_qkv={self.fused_qkv!r}."
            )
        if not isinstance(self.ffn_in, tuple) or not self.ffn_in or not all(isinstance(p, str) for p in self.ffn_in):
            raise FamilyRegistrationError(
                f"FamilyLayout.ffn_in must be a non-empty tuple of module paths, e.g. ('mlp.up_proj',); "
                f"got {self.ffn_in!r}."
            )

    def attention_input(self) -> str:
        """The module whose input is the attention block's (normalised) residual read."""
        return self.fused_qkv or self.query  # type: ignore[return-value]


#: BERT, RoBERTa, XLM-RoBERTa, CamemBERT, ELECTRA (and other BERT-shaped encoders such as ERNIE).
BERT_LIKE = FamilyLayout(
    layers="encoder.layer",
    query="attention.self.query",
    key="attention.self.key",
    value="attention.self.value",
    output="attention.output.dense",
    ffn_in=("intermediate.dense",),
    ffn_out="output.dense",
    post_norm=True,
)

DISTILBERT = FamilyLayout(
    layers="transformer.layer",
    query="attention.q_lin",
    key="attention.k_lin",
    value="attention.v_lin",
    output="attention.out_lin",
    ffn_in=("ffn.lin1",),
    ffn_out="ffn.lin2",
    post_norm=True,
)

GPT2 = FamilyLayout(
    layers="h",
    fused_qkv="attn.c_attn",
    output="attn.c_proj",
    ffn_in=("mlp.c_fc",),
    ffn_out="mlp.c_proj",
)

#: Llama, Mistral, Qwen2: gated MLP, rotary positions, grouped-query attention.
LLAMA_LIKE = FamilyLayout(
    layers="layers",
    query="self_attn.q_proj",
    key="self_attn.k_proj",
    value="self_attn.v_proj",
    output="self_attn.o_proj",
    ffn_in=("mlp.gate_proj", "mlp.up_proj"),
    ffn_out="mlp.down_proj",
    rotary=True,
)

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

for _adapter in BUILTIN_ADAPTERS:
    register_family(_adapter)
