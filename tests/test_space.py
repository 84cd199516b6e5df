import json

import pytest
import transformers as T

from hf_ose.architecture import Architecture
from hf_ose.exceptions import EmptySpaceError
from hf_ose.objectives.counting import StaticCostCounter, measure_static_cost
from hf_ose.parent import PRESETS
from hf_ose.space import BORT_GRID, ArchitectureSpace, Grid


def test_bort_grid_over_roberta_large_has_300_valid_candidates():
    space = ArchitectureSpace(PRESETS["roberta-large"](), "bort")
    assert len(space) == 300
    assert space.dropped == {"hidden not divisible by heads": 6 * 5 * (4 * 3 - 10)}
    assert Architecture(4, 8, 1024, 768) in space.candidates
    assert space.larger_than_parent == {}


def test_bort_and_bert_large_parameter_counts():
    roberta = PRESETS["roberta-large"]()
    counter = StaticCostCounter(roberta, seq_len=128)
    bort = counter(Architecture(4, 8, 1024, 768))
    pooler = 1024 * 1024 + 1024  # AutoModel keeps RoBERTa's pooler; Bort has none
    assert 75.0e6 < bort.params - pooler < 75.2e6  # the released Bort shape (about 75M; README "The main job")
    assert bort.params - bort.effective_params == 50265 * 1024 + 514 * 1024 + 1024
    bert_large = StaticCostCounter(PRESETS["bert-large-uncased"](), seq_len=128)(Architecture(24, 16, 1024, 4096))
    assert 334e6 < bert_large.params < 336e6
    assert round(bert_large.flops / 1e9, 1) == 78.9
    assert round(StaticCostCounter(PRESETS["bert-large-uncased"]())(Architecture(4, 8, 1024, 768)).flops / 1e9, 2) == 6.18


def test_default_grid_is_derived_from_the_parent():
    space = ArchitectureSpace(PRESETS["bert-base-uncased"]())
    grid = space.grid
    assert grid.depth == tuple(range(1, 13))
    assert grid.hidden == (128, 192, 256, 384, 512, 576, 640, 768)
    assert all(v % 64 == 0 for v in grid.hidden + grid.intermediate) and max(grid.intermediate) == 3072
    # Heads follow the hidden size at the parent's head size (64).
    assert all(a.hidden // a.heads == 64 for a in space.candidates)
    assert len(space) == 12 * 8 * 8 and not space.dropped


def test_grouped_query_families_keep_their_group_size_by_default():
    parent = T.LlamaConfig(num_hidden_layers=2, hidden_size=256, num_attention_heads=8, num_key_value_heads=2, intermediate_size=512)
    space = ArchitectureSpace(parent)
    assert {a.heads // a.kv_heads for a in space.candidates} == {4}


def test_user_grid_from_a_dict_and_from_a_file(tmp_path):
    parent = PRESETS["bert-base-uncased"]()
    values = {"depth": [2, 4], "heads": [4, 12], "hidden": [384, 768], "intermediate": [1536]}
    path = tmp_path / "grid.json"
    path.write_text(json.dumps(values))
    from_dict, from_file = ArchitectureSpace(parent, values), ArchitectureSpace(parent, str(path))
    assert from_dict.candidates == from_file.candidates and len(from_dict) == 8


def test_empty_grid_is_refused():
    with pytest.raises(EmptySpaceError, match="no value for 'depth'"):
        ArchitectureSpace(PRESETS["bert-base-uncased"](), {"depth": [], "hidden": [768], "intermediate": [3072]})


def test_fully_invalid_grid_is_refused_with_the_counts():
    grid = {"depth": [2], "heads": [5, 7], "hidden": [768], "intermediate": [3072]}
    with pytest.raises(EmptySpaceError, match=r"dropped \{'hidden not divisible by heads': 2\}"):
        ArchitectureSpace(PRESETS["bert-base-uncased"](), grid)


def test_grid_values_larger_than_the_parent_warn():
    grid = {"depth": [2, 24], "hidden": [768, 1024], "intermediate": [3072]}
    with pytest.warns(UserWarning, match=r"depth=\[24\] exceed the parent's depth=12.*cannot be inherited"):
        space = ArchitectureSpace(PRESETS["bert-base-uncased"](), grid)
    assert space.larger_than_parent == {"depth": [24], "hidden": [1024]}


@pytest.mark.parametrize("bad", [{"depth": [0], "hidden": [64], "intermediate": [64]}, {"depth": [1], "hidden": [64]}, {"depth": [1], "hidden": [64], "intermediate": [64], "width": [3]}])
def test_malformed_grids_are_refused(bad):
    with pytest.raises(ValueError):
        Grid.from_dict(bad)


def test_unknown_space_name_is_refused():
    with pytest.raises(ValueError, match="Unknown space 'tiny'"):
        ArchitectureSpace(PRESETS["bert-base-uncased"](), "tiny")


def test_bort_grid_is_the_published_one():
    assert BORT_GRID.to_dict() == {
        "depth": [2, 4, 6, 8, 10, 12], "hidden": [512, 768, 1024], "intermediate": [256, 512, 768, 1024, 3072],
        "heads": [4, 8, 12, 16], "kv_heads": None, "head_dim": None,
    }


def test_a_decoder_with_a_padding_token_counts_as_one_without():
    """GPT-2 with ``pad_token_id`` reads its mask's values, which meta tensors lack: the count must not fail."""
    plain = T.GPT2Config(n_layer=2, n_embd=64, n_head=4, vocab_size=1000)
    padded = T.GPT2Config(n_layer=2, n_embd=64, n_head=4, vocab_size=1000, pad_token_id=0)
    assert measure_static_cost(padded, 1, 16) == measure_static_cost(plain, 1, 16)
