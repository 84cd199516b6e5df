import pickle

import pytest
from transformers import AutoModel

from hf_ose import Architecture, get_adapter
from hf_ose.data import DataError, load_texts
from hf_ose.distillation import DistillationLoss
from hf_ose.surrogates import DistillationSurrogate, DistillationSurrogateSettings, SurrogateError
from .testing_utils import slow


@pytest.fixture(scope="module")
def parent(minilm_path):
    return AutoModel.from_pretrained(minilm_path)


@pytest.fixture(scope="module")
def texts(sst2_dir):
    return load_texts(sst2_dir / "train.tsv")[:400]


@pytest.fixture(scope="module")
def surrogate(parent, texts):
    return DistillationSurrogate(parent, texts, steps=4, batch_size=8, held_out=32, max_length=32)


def variant(parent, arch):
    return get_adapter(parent.config).write(parent.config, arch)


@slow
def test_the_parent_itself_scores_near_zero_and_smaller_students_higher(parent, surrogate):
    own = surrogate(parent.config)
    half = surrogate(variant(parent, Architecture(6, 6, 192, 768)))
    shallow_half = surrogate(variant(parent, Architecture(2, 6, 192, 768)))
    assert 0 <= own < 0.01 < half
    assert half < shallow_half


@slow
def test_values_are_deterministic_under_the_seed(parent, surrogate):
    config = variant(parent, Architecture(3, 12, 384, 768))
    assert surrogate(config) == surrogate(config)


@slow
def test_fingerprint_names_everything_the_value_depends_on(parent, texts, surrogate):
    other = DistillationSurrogate(parent, texts, steps=5, batch_size=8, held_out=32, max_length=32)
    assert surrogate.fingerprint() != other.fingerprint()
    assert {"parent", "texts", "steps", "learning_rate", "seed"} <= set(surrogate.fingerprint())
    assert pickle.loads(pickle.dumps(surrogate)).fingerprint() == surrogate.fingerprint()
    settings = DistillationSurrogateSettings(steps=4, batch_size=8, held_out=32, max_length=32)
    assert DistillationSurrogate(parent, texts, settings).fingerprint() == surrogate.fingerprint()
    assert surrogate.fingerprint()["loss"] == DistillationLoss().fingerprint()
    other_loss = DistillationSurrogate(parent, texts, settings, loss=DistillationLoss(temperature=1.0))
    assert other_loss.fingerprint()["loss"]["temperature"] == 1.0 != surrogate.fingerprint()["loss"]["temperature"]


@slow
def test_diverging_training_reports_nan_instead_of_a_number(parent, texts):
    wild = DistillationSurrogate(parent, texts, steps=3, batch_size=8, held_out=32, max_length=32, learning_rate=1e12)
    value = wild(variant(parent, Architecture(2, 6, 192, 768)))
    assert value != value  # nan: the search reports the candidate and goes on


def test_empty_or_too_short_text_is_refused(parent):
    with pytest.raises(DataError, match="No text found"):
        DistillationSurrogate(parent, ["", "   "])
    with pytest.raises(SurrogateError, match="needs at least held_out \\+ batch_size"):
        DistillationSurrogate(parent, ["a sentence"] * 10, held_out=32, batch_size=8)
    with pytest.raises(SurrogateError, match="held_out=1, but it needs held_out >= 2"):
        DistillationSurrogate(parent, ["a sentence"] * 10, held_out=1)
