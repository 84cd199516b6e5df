"""One registration describes a family for both the search and weight inheritance; users add families from
their own code (here ERNIE, a BERT-shaped encoder hf-ose does not ship, described from outside the package)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import transformers as T

from hf_ose import (Architecture, ArchitectureSpace, FamilyAdapter, FamilyLayout, get_adapter, register_family,
                    supported_families)
from hf_ose.adapters import BERT_LIKE, FAMILIES, AttentionShape, FamilyRegistrationError
from hf_ose.inheritance import UnsupportedFamilyError, extract_model

from .families import INHERITABLE

ERNIE = FamilyAdapter(
    name="ERNIE",
    model_types=("ernie",),
    layout=BERT_LIKE,  # ERNIE's layers are BERT's; README shows a layout written out in full
)


@pytest.fixture
def isolated_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Registrations made in a test are undone after it."""
    monkeypatch.setattr(FAMILIES, "plugins", dict(FAMILIES.plugins))


def ernie(cls: type = T.ErnieModel) -> T.PreTrainedModel:
    torch.manual_seed(0)
    config = T.ErnieConfig(num_hidden_layers=4, hidden_size=32, num_attention_heads=4, intermediate_size=64,
                           vocab_size=101)
    return cls(config).eval()


def batch() -> dict[str, torch.Tensor]:
    ids = torch.randint(1, 101, (2, 7), generator=torch.Generator().manual_seed(1))
    mask = torch.ones_like(ids)
    mask[1, 5:] = 0
    return {"input_ids": ids, "attention_mask": mask}


def output(model: T.PreTrainedModel) -> torch.Tensor:
    with torch.no_grad():
        out = model(**batch())
    return out.logits if getattr(out, "logits", None) is not None else out.last_hidden_state


def test_a_family_registered_from_outside_the_package_is_inherited(isolated_registry: None, tmp_path: Path) -> None:
    parent = ernie(T.ErnieForSequenceClassification)
    with pytest.raises(UnsupportedFamilyError, match=r"'ernie'.*hf_ose.register_family\(FamilyAdapter"):
        extract_model(parent, parent.config)

    register_family(ERNIE)

    same = extract_model(parent, parent.config).eval()
    torch.testing.assert_close(output(same), output(parent), atol=1e-5, rtol=0)
    space = ArchitectureSpace(parent.config, {"depth": [2], "heads": [2], "hidden": [16], "intermediate": [24]})
    assert space.adapter is ERNIE  # the search reads the same registration
    smaller = space.config(space.candidates[0])
    student = extract_model(parent, smaller, batch()).eval()
    assert get_adapter(student.config).read(student.config) == Architecture(2, 2, 16, 24)
    student.save_pretrained(tmp_path)
    loaded = T.AutoModelForSequenceClassification.from_pretrained(tmp_path).eval()
    torch.testing.assert_close(output(loaded), output(student), atol=0, rtol=0)


def test_registering_a_layout_for_a_search_only_family_makes_it_inheritable(isolated_registry: None) -> None:
    assert supported_families()["search_only"] == {"OPT": ["opt"]}
    with pytest.raises(FamilyRegistrationError, match="registered already"):
        register_family(FamilyAdapter(name="OPT", model_types=("opt",), intermediate="ffn_dim"))
    layout = FamilyLayout(layers="decoder.layers", query="self_attn.q_proj", key="self_attn.k_proj",
                          value="self_attn.v_proj", output="self_attn.out_proj", ffn_in=("fc1",), ffn_out="fc2")
    register_family(FamilyAdapter(name="OPT", model_types=("opt",), intermediate="ffn_dim", layout=layout),
                    overwrite=True)
    assert supported_families() == {"inheritance": {**_builtin_inheritance(), "OPT": ["opt"]}, "search_only": {}}
    torch.manual_seed(0)
    parent = T.OPTModel(T.OPTConfig(num_hidden_layers=2, hidden_size=32, num_attention_heads=4, ffn_dim=64,
                                    word_embed_proj_dim=32, vocab_size=101)).eval()
    torch.testing.assert_close(output(extract_model(parent, parent.config).eval()), output(parent), atol=1e-5, rtol=0)


def _builtin_inheritance() -> dict[str, list[str]]:
    return {"BERT": ["bert"], "RoBERTa": ["roberta", "xlm-roberta", "camembert"], "ELECTRA": ["electra"],
            "DistilBERT": ["distilbert"], "GPT-2": ["gpt2"], "Llama": ["llama", "mistral", "qwen2"]}


def test_supported_families_lists_what_the_readme_states() -> None:
    families = supported_families()
    assert families["inheritance"] == _builtin_inheritance()
    assert {t for types in families["inheritance"].values() for t in types} == set(INHERITABLE)
    assert families["search_only"] == {"OPT": ["opt"]}


def test_attention_shape_comes_from_the_adapter() -> None:
    llama = T.LlamaConfig(num_hidden_layers=2, hidden_size=64, num_attention_heads=4, num_key_value_heads=2,
                          intermediate_size=99)
    gemma = T.GemmaConfig(num_hidden_layers=2, hidden_size=64, num_attention_heads=4, num_key_value_heads=2,
                          intermediate_size=99, head_dim=32)
    gpt2 = T.GPT2Config(n_layer=2, n_embd=96, n_head=3)
    assert get_adapter(llama).attention_shape(llama) == AttentionShape(heads=4, kv_heads=2, head_dim=16)
    assert get_adapter(gemma).attention_shape(gemma) == AttentionShape(heads=4, kv_heads=2, head_dim=32)
    assert get_adapter(gpt2).attention_shape(gpt2) == AttentionShape(heads=3, kv_heads=3, head_dim=32)


def test_a_layout_naming_missing_modules_is_refused_with_the_fix(isolated_registry: None) -> None:
    layout = FamilyLayout(layers="encoder.layer", query="attention.self.q", key="attention.self.key",
                          value="attention.self.value", output="attention.output.dense",
                          ffn_in=("intermediate.dense",), ffn_out="output.dense", post_norm=True)
    register_family(FamilyAdapter(name="ERNIE", model_types=("ernie",), layout=layout))
    with pytest.raises(UnsupportedFamilyError, match=r"lack modules \['attention.self.q'\].*fix the layout"):
        extract_model(ernie(), ernie().config)
    register_family(FamilyAdapter(name="ERNIE", model_types=("ernie",), layout=FamilyLayout(
        layers="decoder.layer", output="o", ffn_in=("f",), ffn_out="g", fused_qkv="qkv")), overwrite=True)
    with pytest.raises(UnsupportedFamilyError, match=r"one layer list named '\*decoder.layer'.*found none"):
        extract_model(ernie(), ernie().config)


@pytest.mark.parametrize(
    ("paths", "message"),
    [
        (dict(query="q", key="k", value="v", fused_qkv="qkv"), "either query, key and value"),
        (dict(query="q", key="k"), "either query, key and value"),
        (dict(), "either query, key and value"),
        (dict(fused_qkv="qkv", ffn_in="fc"), "ffn_in must be a non-empty tuple"),
    ],
)
def test_malformed_layouts_and_registrations_are_refused(paths: dict[str, str], message: str) -> None:
    with pytest.raises(FamilyRegistrationError, match=message):
        FamilyLayout(**{"layers": "h", "output": "o", "ffn_in": ("f",), "ffn_out": "g", **paths})


def test_a_family_without_model_types_is_refused() -> None:
    with pytest.raises(FamilyRegistrationError, match="names no model_types"):
        register_family(FamilyAdapter(name="nameless", layout=ERNIE.layout))
