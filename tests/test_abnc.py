import pytest
from transformers import AutoConfig

from hf_ose.objectives.counting import abnc_report
from hf_ose.parent import PRESETS

from .families import FAMILY_CONFIGS


def test_roberta_large_is_dominated_by_its_blocks():
    report = abnc_report(PRESETS["roberta-large"]())
    assert report.n_blocks == 24 and report.block_path == "encoder.layer" and report.uniform_blocks and report.holds
    embeddings = (50265 + 514 + 1) * 1024 + 2 * 1024  # word, position, token type, LayerNorm
    assert report.params["A"] == pytest.approx(embeddings / 355_359_744)
    assert report.params["B"] > 0.85 and report.flops["B"] > 0.99
    assert sum(report.params.values()) == pytest.approx(1) and sum(report.flops.values()) == pytest.approx(1)


def test_a_small_model_with_a_large_vocabulary_fails_the_property(minilm_path):
    report = abnc_report(AutoConfig.from_pretrained(minilm_path))
    assert not report.holds and report.params["B"] < 0.5 < report.flops["B"]
    assert "under 50% of the parameters" in report.reason and "does NOT hold" in str(report)


@pytest.mark.parametrize("family", ["gpt2", "llama", "distilbert", "deberta-v2"])
def test_blocks_are_found_in_other_families(family):
    report = abnc_report(FAMILY_CONFIGS[family](), seq_len=16)
    assert report.n_blocks == 4 and report.uniform_blocks and 0 < report.params["B"] < 1
