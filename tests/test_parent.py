import re

import pytest
from transformers import AutoConfig, AutoModel, BertConfig

from hf_ose.exceptions import ParentNotFoundError, UnsupportedConfigError
from hf_ose.parent import PRESETS, load_config_folder, load_parent_config


def test_presets_are_the_published_shapes():
    large = load_parent_config("roberta-large")
    assert (large.num_hidden_layers, large.hidden_size, large.num_attention_heads, large.intermediate_size, large.vocab_size) == (24, 1024, 16, 4096, 50265)
    assert load_parent_config("bert-base-uncased").hidden_size == 768
    assert set(PRESETS) >= {"bert-base-uncased", "bert-large-uncased", "roberta-large"}


def test_real_parent_loads_from_its_folder(minilm_path):
    config = load_parent_config(minilm_path)
    assert (config.model_type, config.num_hidden_layers, config.hidden_size) == ("bert", 6, 384)


def test_a_model_or_config_is_taken_as_it_is():
    config = BertConfig(num_hidden_layers=1, hidden_size=32, num_attention_heads=2, intermediate_size=64)
    assert load_parent_config(config) is config
    assert load_parent_config(AutoModel.from_config(config)).hidden_size == 32


def test_folder_without_config_is_refused(tmp_path):
    with pytest.raises(ParentNotFoundError, match="holds no config.json"):
        load_parent_config(tmp_path)


def test_unreadable_config_is_refused(tmp_path):
    (tmp_path / "config.json").write_text('{"model_type": "no-such-family", "hidden_size": 8}')
    with pytest.raises(UnsupportedConfigError, match="Cannot read .*config.json"):
        load_parent_config(tmp_path)
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(UnsupportedConfigError, match="Cannot read"):
        load_parent_config(tmp_path)


def test_unreachable_hub_id_suggests_a_folder_or_a_preset(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # what an unreachable Hub looks like, without waiting for retries
    with pytest.raises(ParentNotFoundError, match=r"Could not load 'someone/some-model'.*local folder.*presets: bert-base-uncased"):
        load_parent_config("someone/some-model")


def test_a_file_is_not_a_parent(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(AutoConfig.for_model("bert").to_json_string())
    with pytest.raises(ParentNotFoundError, match="pass the folder"):
        load_parent_config(path)


def test_a_path_that_does_not_exist_is_named_as_a_missing_folder(tmp_path):
    for missing in ("/no/such/folder", "./no-such-folder", str(tmp_path / "gone")):
        with pytest.raises(ParentNotFoundError, match=f"The folder {re.escape(missing)} does not exist"):
            load_parent_config(missing)
    with pytest.raises(ParentNotFoundError, match="The folder .*gone does not exist: pass a folder holding config.json"):
        load_config_folder(tmp_path / "gone")


def test_a_hub_shaped_name_says_no_local_folder_exists_either(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ParentNotFoundError, match="no local folder of that name exists either"):
        load_parent_config("runs/student")


def test_a_variant_config_folder_loads(tmp_path, minilm_path):
    assert load_config_folder(minilm_path).hidden_size == 384
    with pytest.raises(ParentNotFoundError, match="holds no config.json"):
        load_config_folder(tmp_path)
