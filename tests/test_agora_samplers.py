"""Agora's samplers on the real parent's tokenizer and real SST-2 sentences: deterministic under a seed, never a
copy of the input, within the token budget, one side of a pair at a time; the registry by name."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch
from transformers import AutoModel, AutoTokenizer, BertConfig, BertForMaskedLM, BertModel

from hf_ose.agora.interfaces import AgoraError, Sampler
from hf_ose.agora.samplers import (SAMPLER_REGISTRY, MaskedLMSampler, NearestNeighbourSampler, TokenEditSampler,
                                   copy_key, encoded_length, get_sampler, register_sampler)
from .testing_utils import slow

PAIRS = [("A man is playing a guitar on the stage tonight.", "Nobody is playing music."),
         ("The cat sat on the mat.", "A cat is sitting.")]


@pytest.fixture(scope="module")
def tokenizer(minilm_path: Path):
    return AutoTokenizer.from_pretrained(minilm_path)


@pytest.fixture(scope="module")
def sentences(sst2_dir: Path) -> list[str]:
    with open(sst2_dir / "train.tsv", encoding="utf-8") as handle:
        rows = [row["sentence"].strip() for row in csv.DictReader(handle, delimiter="\t")]
    return [row for row in rows if row][:40]


@pytest.fixture(scope="module")
def masked_lm(tokenizer) -> MaskedLMSampler:
    """A tiny random BertForMaskedLM over the parent's vocabulary: behaviour, not quality."""
    torch.manual_seed(0)
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=1,
                        num_attention_heads=2, intermediate_size=64)
    return MaskedLMSampler(BertForMaskedLM(config), tokenizer)


def _random_samplers(masked_lm: MaskedLMSampler) -> list[Sampler]:
    return [TokenEditSampler(), masked_lm]


def _check_invariants(points, samples, tokenizer, max_length: int) -> None:
    assert len(samples) == len(points)
    for point, new in zip(points, samples):
        original = copy_key(point, tokenizer, max_length)
        assert len({copy_key(p, tokenizer, max_length) for p in new}) == len(new)  # distinct
        for sample in new:
            assert sample != point and copy_key(sample, tokenizer, max_length) != original
            assert encoded_length(sample, tokenizer) <= max_length
            if isinstance(point, tuple):
                assert isinstance(sample, tuple) and len(sample) == 2
                assert (sample[0] == point[0]) != (sample[1] == point[1])  # exactly one side changed


@slow
@pytest.mark.parametrize("which", [0, 1], ids=["token-edits", "masked-lm"])
def test_random_samplers_are_seeded_new_and_within_length(which, masked_lm, tokenizer, sentences) -> None:
    sampler, sentences = _random_samplers(masked_lm)[which], sentences[:20]
    first = sampler.sample(sentences, 3, tokenizer=tokenizer, max_length=64, seed=1)
    assert first == sampler.sample(sentences, 3, tokenizer=tokenizer, max_length=64, seed=1)
    assert first != sampler.sample(sentences, 3, tokenizer=tokenizer, max_length=64, seed=2)
    _check_invariants(sentences, first, tokenizer, 64)
    assert sum(map(len, first)) >= 2.5 * len(sentences)  # almost every sentence allows 3 edits


@pytest.mark.parametrize("which", [0, 1], ids=["token-edits", "masked-lm"])
def test_long_inputs_are_cut_to_max_length(which, masked_lm, tokenizer, sentences) -> None:
    long_point = " ".join(sentences)
    pair = (long_point, "a short hypothesis .")
    assert encoded_length(long_point, tokenizer) > 300
    samples = _random_samplers(masked_lm)[which].sample([long_point, pair], 4, tokenizer=tokenizer, max_length=24,
                                                          seed=0)
    assert all(samples)
    _check_invariants([long_point], samples[:1], tokenizer, 24)
    long_ids = tokenizer(long_point, add_special_tokens=False)["input_ids"]
    for first, second in samples[1]:
        assert encoded_length((first, second), tokenizer) <= 24
        if second == pair[1]:  # the long side was edited (and cut), the short side kept
            assert copy_key((first, second), tokenizer, 24) != copy_key(pair, tokenizer, 24)
        else:  # the short side was edited: the long side is kept, cut to its first tokens to make room
            first_ids = tokenizer(first, add_special_tokens=False)["input_ids"]
            assert first_ids == long_ids[:len(first_ids)] and len(first_ids) >= 24 // 2 - 3


@pytest.mark.parametrize("which", [0, 1], ids=["token-edits", "masked-lm"])
def test_pairs_change_exactly_one_side_and_both_sides_get_changed(which, masked_lm, tokenizer) -> None:
    samples = _random_samplers(masked_lm)[which].sample(PAIRS, 6, tokenizer=tokenizer, max_length=64, seed=3)
    _check_invariants(PAIRS, samples, tokenizer, 64)
    changed = {0 if sample[0] != point[0] else 1 for point, new in zip(PAIRS, samples) for sample in new}
    assert changed == {0, 1}


def test_a_point_that_allows_no_edit_gets_no_samples(tokenizer) -> None:
    # One token: no drop, no swap; masking it is the only edit, and only once.
    sampler = TokenEditSampler(operations=("drop", "swap"))
    assert sampler.sample(["good"], 4, tokenizer=tokenizer, max_length=16, seed=0) == [[]]
    masked = TokenEditSampler().sample(["good"], 4, tokenizer=tokenizer, max_length=16, seed=0)
    assert masked == [[tokenizer.mask_token]]


def test_token_edit_operations_are_the_ones_asked_for(tokenizer) -> None:
    text = "the film is a quiet and moving portrait of grief"
    words = text.split()
    dropped = TokenEditSampler(operations=("drop",)).sample([text], 5, tokenizer=tokenizer, max_length=32, seed=0)[0]
    assert all(len(s.split()) == len(words) - 1 and set(s.split()) < set(words) for s in dropped)
    swapped = TokenEditSampler(operations=("swap",)).sample([text], 5, tokenizer=tokenizer, max_length=32, seed=0)[0]
    assert all(sorted(s.split()) == sorted(words) for s in swapped)
    masked = TokenEditSampler(operations=("mask",), max_span=2).sample([text], 5, tokenizer=tokenizer,
                                                                        max_length=32, seed=0)[0]
    assert all(1 <= s.split().count(tokenizer.mask_token) <= 2 and len(s.split()) == len(words) for s in masked)
    assert len(dropped) == len(swapped) == len(masked) == 5


def test_masked_lm_substitutes_tokens_in_place(masked_lm, tokenizer) -> None:
    text = "the film is a quiet and moving portrait of grief"
    original = tokenizer(text)["input_ids"]
    samples = masked_lm.sample([text], 4, tokenizer=tokenizer, max_length=32, seed=0)[0]
    same_length = [tokenizer(sample)["input_ids"] for sample in samples]
    same_length = [ids for ids in same_length if len(ids) == len(original)]
    assert len(samples) == 4 and tokenizer.mask_token not in " ".join(samples)
    # 15% of 10 tokens: 2 substituted in place (a word piece may merge with its neighbour, changing the length)
    assert len(same_length) >= 2
    assert all(1 <= sum(a != b for a, b in zip(ids, original)) <= 2 for ids in same_length)


def test_masked_lm_from_pretrained_loads_an_mlm_and_refuses_the_sentence_encoder(
        masked_lm, tokenizer, minilm_path, tmp_path) -> None:
    masked_lm.model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    loaded = MaskedLMSampler.from_pretrained(tmp_path)
    assert isinstance(loaded.model, BertForMaskedLM)
    assert loaded.sample(["a fine film"], 2, tokenizer=tokenizer, max_length=16, seed=0) == \
        masked_lm.sample(["a fine film"], 2, tokenizer=tokenizer, max_length=16, seed=0)
    # all-MiniLM-L6-v2 ships no MLM head weights: transformers would start the head at random.
    with pytest.raises(AgoraError, match="no trained masked-LM head.*token-edits"):
        MaskedLMSampler.from_pretrained(minilm_path)
    with pytest.raises(AgoraError, match="ForMaskedLM"):
        MaskedLMSampler(BertModel(masked_lm.model.config), tokenizer)


@pytest.fixture(scope="module")
def encoder(minilm_path: Path):
    return AutoModel.from_pretrained(minilm_path)


@slow
def test_nearest_neighbours_are_the_truly_nearest_and_never_the_query(encoder, tokenizer, sentences) -> None:
    pool = sentences[:30]
    sampler = NearestNeighbourSampler(encoder, tokenizer, pool)
    queries = sentences[:3] + [sentences[0].upper()]  # in the pool; a case-only copy for the uncased tokenizer
    samples = sampler.sample(queries, 3, tokenizer=tokenizer, max_length=64, seed=0)
    embedded = sampler.embed(sampler.pool)
    for query, new in zip(queries, samples):
        similarity = embedded @ sampler.embed([query])[0]
        ranked = [sampler.pool[i] for i in torch.argsort(similarity, descending=True).tolist()]
        assert ranked[0].lower() == query.lower()  # the query itself (or its case copy) is nearest, and skipped
        assert new == [text for text in ranked if text.lower() != query.lower()][:3]
    _check_invariants(queries, samples, tokenizer, 64)


def test_nearest_neighbours_on_a_constructed_case(encoder, tokenizer) -> None:
    pool = ["the movie was wonderful and moving", "stock prices fell sharply on monday",
            "a delightful , touching film", "heavy rain is expected tomorrow"]
    sampler = NearestNeighbourSampler(encoder, tokenizer, pool)
    film, weather = sampler.sample(["a wonderful , moving film", "it will rain heavily tomorrow"], 2,
                                   tokenizer=tokenizer, max_length=32, seed=0)
    assert set(film) == {pool[0], pool[2]}
    assert weather[0] == pool[3]


def test_nearest_neighbours_pairs_replace_one_side_with_its_neighbour(encoder, tokenizer) -> None:
    pool = [("a delightful , touching film", "stocks fell"), ("heavy rain tomorrow", "the cat sat on the mat")]
    sampler = NearestNeighbourSampler(encoder, tokenizer, pool)
    assert len(sampler.pool) == 4  # pairs give both sides
    samples = sampler.sample(PAIRS, 3, tokenizer=tokenizer, max_length=64, seed=0)
    _check_invariants(PAIRS, samples, tokenizer, 64)
    assert samples == sampler.sample(PAIRS, 3, tokenizer=tokenizer, max_length=64, seed=0)
    assert all(set(sample) & set(sampler.pool) for new in samples for sample in new)
    with pytest.raises(AgoraError, match="pool holds no text"):
        NearestNeighbourSampler(encoder, tokenizer, ["  "])


def test_registry_by_name_and_errors(tokenizer) -> None:
    assert set(SAMPLER_REGISTRY.names()) >= {"token-edits", "masked-lm", "nearest-neighbours"}
    assert isinstance(get_sampler("token-edits", max_span=2), TokenEditSampler)
    ready = TokenEditSampler()
    assert get_sampler(ready) is ready
    with pytest.raises(AgoraError, match="Unknown sampler 'nope'.*register_sampler"):
        get_sampler("nope")
    with pytest.raises(AgoraError, match="pass the options to its constructor"):
        get_sampler(ready, max_span=2)
    with pytest.raises(AgoraError, match="'nearest-neighbours' cannot be built.*encoder.*pass the sampler object"):
        get_sampler("nearest-neighbours")
    with pytest.raises(AgoraError, match="'masked-lm' cannot be built from \\['top_n'\\]"):
        get_sampler("masked-lm", top_n=3)

    class Reverse(Sampler):
        name = "test-reverse"

        def sample(self, points, per_point, *, tokenizer, max_length, seed):
            return [[point[::-1]] for point in points]

    try:
        assert register_sampler(Reverse) is Reverse
        assert get_sampler("test-reverse").sample(["ab"], 1, tokenizer=tokenizer, max_length=8, seed=0) == [["ba"]]

        class Clash(Reverse):
            pass

        with pytest.raises(AgoraError, match="already registered"):
            register_sampler(Clash)
    finally:
        SAMPLER_REGISTRY.unregister("test-reverse")
    with pytest.raises(AgoraError, match="subset of"):
        TokenEditSampler(operations=("shuffle",))
