import pytest
import torch
import transformers as T
from transformers import AutoModel

from hf_ose import Architecture, FamilyAdapter, get_adapter, register_family
from hf_ose.adapters import FAMILIES, AttentionShape, FamilyRegistrationError
from hf_ose.exceptions import UnsupportedConfigError
from hf_ose.objectives.counting import StaticCostCounter
from hf_ose.space import ArchitectureSpace

from .families import FAMILY_CONFIGS
from .testing_utils import slow

SMALL_GRID = {"depth": [1, 2, 4], "hidden": [64, 128], "intermediate": [128, 256]}


@slow
@pytest.mark.parametrize("family", sorted(FAMILY_CONFIGS))
def test_every_variant_is_a_real_config_of_the_parents_class(family):
    parent = FAMILY_CONFIGS[family]()
    space = ArchitectureSpace(parent, SMALL_GRID)
    counter = StaticCostCounter(parent, seq_len=16)
    adapter = get_adapter(parent)
    allowed = adapter.architectural_fields(parent)
    assert len(space) >= 4
    for arch in space.candidates:
        variant = space.config(arch)
        assert type(variant) is type(parent) and variant.model_type == parent.model_type
        changed = {k for k in parent.to_dict().keys() | variant.to_dict().keys() if parent.to_dict().get(k) != variant.to_dict().get(k)}
        assert changed <= allowed, f"{family}: non-architectural fields changed: {changed - allowed}"
        assert adapter.read(variant) == arch
        torch.manual_seed(0)
        model = AutoModel.from_config(variant)
        assert counter(arch).params == sum(p.numel() for p in model.parameters())


def test_field_names_of_each_family_are_read():
    assert get_adapter(T.GPT2Config()).read(T.GPT2Config(n_layer=3, n_embd=96, n_head=3)) == Architecture(3, 3, 96, 384)
    distil = T.DistilBertConfig(n_layers=2, dim=64, n_heads=2, hidden_dim=100)
    assert get_adapter(distil).read(distil) == Architecture(2, 2, 64, 100)
    llama = T.LlamaConfig(num_hidden_layers=2, hidden_size=64, num_attention_heads=4, num_key_value_heads=2, intermediate_size=99)
    assert get_adapter(llama).read(llama) == Architecture(2, 4, 64, 99, kv_heads=2)
    gemma = T.GemmaConfig(num_hidden_layers=2, hidden_size=64, num_attention_heads=4, num_key_value_heads=2, intermediate_size=99, head_dim=32)
    assert get_adapter(gemma).read(gemma) == Architecture(2, 4, 64, 99, kv_heads=2, head_dim=32)


def test_per_layer_lists_follow_the_depth():
    parent = FAMILY_CONFIGS["modernbert"]()
    variant = get_adapter(parent).write(parent, Architecture(2, 2, 64, 128))
    assert len(variant.layer_types) == 2


def test_unreadable_config_names_the_fields_looked_for():
    config = T.PretrainedConfig(vocab_size=100)
    with pytest.raises(UnsupportedConfigError, match=r"looked for .*num_hidden_layers.*register_family"):
        get_adapter(config)


@pytest.mark.parametrize("config", [T.ViTConfig(), T.ResNetConfig()], ids=lambda config: config.model_type)
def test_a_config_without_a_token_vocabulary_is_refused_as_not_a_text_model(config):
    with pytest.raises(UnsupportedConfigError, match=r"no token vocabulary .* not a text model.* Pass a text model"):
        get_adapter(config)


def test_registering_a_family_makes_it_readable(monkeypatch):
    monkeypatch.setattr(FAMILIES, "plugins", dict(FAMILIES.plugins))
    config = T.T5Config(num_layers=3, d_model=64, num_heads=4, d_ff=128, d_kv=8)
    register_family(FamilyAdapter(name="t5-encoder", model_types=("t5",), depth="num_layers", heads="num_heads",
                                  hidden="d_model", intermediate="d_ff", head_dim="d_kv"), overwrite=True)
    assert get_adapter(config).read(config) == Architecture(3, 4, 64, 128, head_dim=8)
    assert get_adapter(config).attention_shape(config) == AttentionShape(heads=4, kv_heads=4, head_dim=8)
    with pytest.raises(FamilyRegistrationError, match="registered already .*overwrite=True"):
        register_family(FamilyAdapter(name="again", model_types=("t5",)))
