"""The data layer on the shipped SST-2 sample: every kind of source, the refusals, tokenizing and digests."""

from __future__ import annotations

import copy
import csv
import json
from pathlib import Path

import pytest
import torch
import transformers as T
from datasets import Dataset

from hf_ose.data import (
    DataError,
    digest_texts,
    digest_tokenizer,
    digest_weights,
    load_labelled,
    load_texts,
    padding_tokenizer,
    tokenize,
)


@pytest.fixture(scope="module")
def rows(sst2_dir: Path) -> list[dict[str, str]]:
    with (sst2_dir / "train.tsv").open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def test_the_shipped_sample_is_real_labelled_sst2(sst2_dir: Path) -> None:
    sizes = {split: len(load_labelled(sst2_dir / f"{split}.tsv")[1]) for split in ("train", "validation", "test")}
    assert sizes == {"train": 500, "validation": 250, "test": 250}
    texts, labels = load_labelled(sst2_dir / "train.tsv")
    assert set(labels) == {0, 1} and 0.3 < sum(labels) / len(labels) < 0.7
    assert texts[0].strip() == "when are bears bears and" and labels[0] == 1


def test_files_datasets_and_lists_give_the_same_texts(tmp_path: Path, sst2_dir: Path, rows) -> None:
    sentences = [row["sentence"] for row in rows]
    expected = [s.strip() for s in sentences]
    (tmp_path / "t.txt").write_text("\n".join(sentences) + "\n\n", encoding="utf-8")
    (tmp_path / "t.jsonl").write_text("".join(json.dumps({"text": s}) + "\n" for s in sentences), encoding="utf-8")
    with (tmp_path / "t.csv").open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([["sentence"], *([s] for s in sentences)])
    assert load_texts(sst2_dir / "train.tsv") == expected
    assert load_texts(str(tmp_path / "t.txt")) == expected
    assert load_texts(tmp_path / "t.jsonl", column="text") == expected
    assert load_texts(tmp_path / "t.csv") == expected
    assert load_texts(Dataset.from_list(rows)) == expected
    assert load_texts(sentences + [None, "  "]) == expected  # empty and missing texts are skipped


def test_labelled_rows_from_files_datasets_dicts_and_pairs_agree(sst2_dir: Path, rows) -> None:
    expected = load_labelled(sst2_dir / "train.tsv")
    pairs = [(row["sentence"], int(row["label"])) for row in rows]
    assert load_labelled(rows) == load_labelled(Dataset.from_list(rows)) == load_labelled(pairs) == expected
    renamed = [{"text": row["sentence"], "y": row["label"]} for row in rows]
    assert load_labelled(renamed, text_column="text", label_column="y") == expected


def test_wrong_types_are_refused_with_the_accepted_ones() -> None:
    with pytest.raises(DataError, match="from a value of type int: pass a path to a .txt, .tsv, .csv or .jsonl file, "
                                        "a datasets.Dataset, or a list of strings"):
        load_texts(42)
    with pytest.raises(DataError, match=r"Texts must be strings, but the input holds a value of type int \(1\)"):
        load_texts(["fine", 1])
    with pytest.raises(DataError, match="from a value of type float: .* of dicts or \\(text, label\\) pairs"):
        load_labelled(0.5)


def test_a_missing_column_names_the_option_that_sets_it(tmp_path: Path, sst2_dir: Path, rows) -> None:
    with pytest.raises(DataError, match=r"has no column 'text'; its columns are \['label', 'sentence'\]\. .*"
                                        r"column= \(--text-column on the command line\)"):
        load_texts(sst2_dir / "train.tsv", column="text")
    with pytest.raises(DataError, match=r"dataset has no column 'text'.*--text-column"):
        load_texts(Dataset.from_list(rows), column="text")
    with pytest.raises(DataError, match=r"Labels are missing \(no 'y' in .*label_column= \(--label-column"):
        load_labelled(sst2_dir / "train.tsv", label_column="y")
    with pytest.raises(DataError, match=r"No text column 'text' in .*text_column= \(--text-column"):
        load_labelled(sst2_dir / "train.tsv", text_column="text")
    with pytest.raises(DataError, match=r"lacks column\(s\) \['y'\].*--text-column.*--label-column"):
        load_labelled(Dataset.from_list(rows), label_column="y")


def test_unreadable_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="is not a file: pass a path"):
        load_texts(tmp_path / "missing.tsv")
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"sentence": "fine"}\n{"sentence": \n', encoding="utf-8")
    with pytest.raises(DataError, match="is not JSON Lines .*one JSON object per line"):
        load_texts(broken)
    with pytest.raises(DataError, match="No text found"):
        load_texts(["", "  "])
    short = tmp_path / "short.tsv"
    short.write_text("sentence\tlabel\ngood\t1\nno label\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"short\.tsv has a malformed row .*the header's columns"):
        load_labelled(short)


def test_tsv_files_are_read_unquoted_as_glue_writes_them(tmp_path: Path) -> None:
    quoted = tmp_path / "quoted.tsv"
    quoted.write_text('sentence\tlabel\n"The film WarGames" was shot in 1983.\t1\n', encoding="utf-8")
    assert load_labelled(quoted) == (['"The film WarGames" was shot in 1983.'], [1])


def test_tokenize_pads_and_truncates_real_text(minilm_path: Path, rows) -> None:
    tokenizer = T.AutoTokenizer.from_pretrained(minilm_path)
    texts = [row["sentence"] for row in rows[:8]]
    batch = tokenize(tokenizer, texts, max_length=6)
    assert set(batch) == {"input_ids", "attention_mask", "token_type_ids"}
    lengths = [len(tokenizer(t)["input_ids"]) for t in texts]
    assert batch["input_ids"].shape == (8, min(6, max(lengths)))
    assert batch["attention_mask"].sum(-1).tolist() == [min(6, n) for n in lengths]
    assert padding_tokenizer(tokenizer) is tokenizer


def test_a_tokenizer_without_padding_pads_with_eos_on_a_copy(minilm_path: Path) -> None:
    tokenizer = T.AutoTokenizer.from_pretrained(minilm_path)
    no_pad = copy.deepcopy(tokenizer)
    no_pad.pad_token, no_pad.eos_token = None, "[SEP]"
    padded = padding_tokenizer(no_pad)
    assert padded is not no_pad and no_pad.pad_token is None and padded.pad_token == "[SEP]"
    no_pad.eos_token = None
    with pytest.raises(DataError, match="neither a padding nor an end-of-sequence token"):
        padding_tokenizer(no_pad)


def test_digests_change_with_what_they_cover(minilm_path: Path) -> None:
    assert digest_texts(["a", "b"]) == digest_texts(iter(["a", "b"]))
    assert digest_texts(["a", "b"]) != digest_texts(["b", "a"]) != digest_texts(["ab"])
    tokenizer = T.AutoTokenizer.from_pretrained(minilm_path)
    left = copy.deepcopy(tokenizer)
    left.padding_side = "left"
    assert digest_tokenizer(copy.deepcopy(tokenizer)) == digest_tokenizer(tokenizer) != digest_tokenizer(left)
    model = T.BertModel(T.BertConfig(num_hidden_layers=1, hidden_size=32, num_attention_heads=2,
                                     intermediate_size=64, vocab_size=100))
    before = digest_weights(model)
    with torch.no_grad():
        model.pooler.dense.bias[0] += 1e-6
    assert digest_weights(model) != before
