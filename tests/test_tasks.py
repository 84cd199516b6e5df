"""Tasks: real SST-2 and RTE folders, GLUE names through HF_OSE_DATA_DIR, datasets ids, and every refusal."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import datasets
import pytest

from hf_ose.data import DataError
from hf_ose.tasks import Task, TaskError, load_task

from .conftest import TEST_DATA

RTE = TEST_DATA / "rte"


def _folder(tmp_path: Path, files: dict[str, str]) -> Path:
    folder = tmp_path / "task"
    folder.mkdir()
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def _jsonl(rows: list[dict]) -> str:
    return "".join(json.dumps(row) + "\n" for row in rows)


def test_an_sst2_folder_loads_with_integer_labels(sst2_dir):
    task = load_task(sst2_dir)
    assert isinstance(task, Task)
    assert (task.name, task.text_columns, task.label_names) == ("sst2", ("sentence",), ("0", "1"))
    assert (len(task.train), len(task.validation), len(task.test)) == (500, 250, 250)
    assert task.train[0] == {"sentence": "when are bears bears and ", "label": 1}
    assert set(task.test["label"]) == {0, 1}


def test_an_rte_folder_maps_named_labels_in_sorted_order_and_keeps_pairs():
    task = load_task(RTE)
    assert task.text_columns == ("sentence1", "sentence2")
    assert task.label_names == ("entailment", "not_entailment")
    assert task.num_labels == 2 and task.label2id == {"entailment": 0, "not_entailment": 1}
    assert (len(task.train), len(task.validation), len(task.test)) == (200, 60, 60)
    first = task.train[0]
    assert first["sentence2"] == "Pope Benedict XVI is the new leader of the Roman Catholic Church."
    assert first["label"] == 0 and "index" not in task.train.column_names
    assert task.validation["label"].count(0) == 30


def test_a_tsv_sentence_that_begins_with_a_quote_is_read_as_written(tmp_path):
    header = "index\tsentence1\tsentence2\tlabel\n"
    row = "7\tThat film wasn't too successful.\t\"The film WarGames\" was shot in 1983.\tnot_entailment\n"
    other = "8\tA cat sat.\tA cat sat down.\tentailment\n"
    folder = _folder(tmp_path, {f"{s}.tsv": header + row + other for s in ("train", "validation", "test")})
    task = load_task(folder)
    assert task.test[0]["sentence2"] == '"The film WarGames" was shot in 1983.'
    assert task.test[0]["label"] == 1


def test_csv_and_jsonl_splits_mix_in_one_folder_and_named_labels_follow_the_train_split(tmp_path):
    rows = [{"sentence": "good", "label": "pos"}, {"sentence": "bad", "label": "neg"},
            {"sentence": "fine", "label": "meh"}]
    folder = _folder(tmp_path, {"train.jsonl": _jsonl(rows), "validation.csv": "sentence,label\n\"ok, then\",meh\n",
                                "test.jsonl": _jsonl(rows[:1])})
    task = load_task(folder)
    assert task.label_names == ("meh", "neg", "pos")
    assert task.train["label"] == [2, 1, 0]
    assert task.validation[0] == {"sentence": "ok, then", "label": 0}


def test_sst2_and_rte_names_read_the_folder_named_by_the_environment(monkeypatch):
    monkeypatch.setenv("HF_OSE_DATA_DIR", str(TEST_DATA))
    sst2, rte = load_task("sst2"), load_task("rte")
    assert sst2.label_names == ("negative", "positive") and len(sst2.train) == 500
    assert rte.label_names == ("entailment", "not_entailment") and len(rte.test) == 60


def test_an_environment_folder_without_the_task_is_named(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_OSE_DATA_DIR", str(tmp_path))
    with pytest.raises(TaskError, match=r"has no folder 'rte'.*unset HF_OSE_DATA_DIR"):
        load_task("rte")


def test_glue_offline_without_a_data_folder_says_how_to_fix_it(monkeypatch):
    monkeypatch.delenv("HF_OSE_DATA_DIR", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    with pytest.raises(TaskError, match=r"Cannot load GLUE sst2.*set HF_OSE_DATA_DIR"):
        load_task("sst2")


def test_a_datasets_id_becomes_a_task_with_its_class_names(monkeypatch):
    features = datasets.Features({"sentence": datasets.Value("string"),
                                  "label": datasets.ClassLabel(names=["no", "yes"])})
    splits = {split: datasets.Dataset.from_dict({"sentence": [f"{split} a", f"{split} b"], "label": [0, 1]},
                                                features=features) for split in ("train", "validation", "test")}
    calls = []
    monkeypatch.setattr(datasets, "load_dataset",
                        lambda name, config: calls.append((name, config)) or datasets.DatasetDict(splits))
    task = load_task("someone/reviews:en")
    assert calls == [("someone/reviews", "en")]
    assert (task.name, task.label_names, task.test["sentence"]) == ("reviews-en", ("no", "yes"), ["test a", "test b"])


def test_a_datasets_id_without_a_test_split_is_refused(monkeypatch):
    data = datasets.Dataset.from_dict({"sentence": ["a"], "label": [0]})
    monkeypatch.setattr(datasets, "load_dataset",
                        lambda name, config: datasets.DatasetDict({"train": data, "validation": data}))
    with pytest.raises(TaskError, match=r"no test: a task needs labelled train, validation, test splits"):
        load_task("someone/reviews")


def test_unlabelled_test_rows_as_glue_ships_them_are_refused(monkeypatch):
    data = datasets.Dataset.from_dict({"sentence": ["a", "b"], "label": [0, 1]})
    hidden = datasets.Dataset.from_dict({"sentence": ["c"], "label": [-1]})
    monkeypatch.setattr(datasets, "load_dataset", lambda name, config: datasets.DatasetDict(
        {"train": data, "validation": data, "test": hidden}))
    with pytest.raises(TaskError, match=r"test split of someone/x has no label"):
        load_task("someone/x")


def test_an_unknown_name_is_neither_folder_nor_dataset(monkeypatch):
    def unreachable(name, config):
        raise ConnectionError("offline")

    monkeypatch.setattr(datasets, "load_dataset", unreachable)
    with pytest.raises(TaskError, match=r"'nowhere/none' is neither a task folder, nor a named task \(sst2, rte, stsb, wnut17\)"):
        load_task("nowhere/none")


def test_a_folder_missing_a_split_names_the_file_and_the_accepted_names(tmp_path):
    folder = tmp_path / "rte"
    shutil.copytree(RTE, folder)
    (folder / "validation.tsv").unlink()
    with pytest.raises(TaskError, match=r"no validation file: add one of validation\.tsv, validation\.csv, "
                                        r"validation\.jsonl"):
        load_task(folder)


def test_two_files_for_one_split_are_refused(tmp_path):
    folder = tmp_path / "rte"
    shutil.copytree(RTE, folder)
    (folder / "train.jsonl").write_text(_jsonl([{"sentence1": "a", "sentence2": "b", "label": "entailment"}]))
    with pytest.raises(TaskError, match=r"several train files \(train\.tsv, train\.jsonl\)"):
        load_task(folder)


def test_a_file_without_sentence_columns_is_refused(tmp_path):
    text = "text\tlabel\nhello\t1\n"
    folder = _folder(tmp_path, {f"{s}.tsv": text for s in ("train", "validation", "test")})
    with pytest.raises(TaskError, match=r"columns \['label', 'text'\] but neither 'sentence' nor 'sentence1' and "
                                        r"'sentence2'"):
        load_task(folder)


def test_splits_with_different_text_columns_are_refused(tmp_path):
    single, pair = "sentence\tlabel\na\t0\nb\t1\n", "sentence1\tsentence2\tlabel\na\tb\t0\n"
    folder = _folder(tmp_path, {"train.tsv": single, "validation.tsv": single, "test.tsv": pair})
    with pytest.raises(TaskError, match=r"test split .* has text columns \('sentence1', 'sentence2'\) but train has"):
        load_task(folder)


def test_a_label_the_train_split_lacks_is_refused(tmp_path):
    train = "sentence\tlabel\na\tpos\nb\tneg\n"
    folder = _folder(tmp_path, {"train.tsv": train, "validation.tsv": train,
                                "test.tsv": "sentence\tlabel\nc\tneutral\n"})
    with pytest.raises(TaskError, match=r"test split .* has labels \['neutral'\] that the train split lacks "
                                        r"\(train has \['neg', 'pos'\]\)"):
        load_task(folder)


def test_an_integer_label_the_train_split_lacks_is_refused(sst2_dir, tmp_path):
    folder = tmp_path / "sst2"
    shutil.copytree(sst2_dir, folder)
    with (folder / "validation.tsv").open("a", encoding="utf-8") as handle:
        handle.write("a third kind of film\t2\n")
    with pytest.raises(TaskError, match=r"validation split .* has labels \['2'\]"):
        load_task(folder)


def test_an_empty_split_is_refused(tmp_path):
    rows = "sentence\tlabel\na\t0\nb\t1\n"
    folder = _folder(tmp_path, {"train.tsv": rows, "validation.tsv": "sentence\tlabel\n", "test.tsv": rows})
    with pytest.raises(TaskError, match=r"The validation split of .* is empty"):
        load_task(folder)


def test_a_row_without_a_label_is_refused(tmp_path):
    rows = _jsonl([{"sentence": "a", "label": 0}, {"sentence": "b"}])
    folder = _folder(tmp_path, {"train.jsonl": rows, "validation.jsonl": rows, "test.jsonl": rows})
    with pytest.raises(TaskError, match=r"A row of the train split .* has no label"):
        load_task(folder)


def test_a_short_tsv_row_is_refused_as_malformed(tmp_path):
    rows = "sentence1\tsentence2\tlabel\na\tb\t0\nonly one field\n"
    folder = _folder(tmp_path, {f"{s}.tsv": rows for s in ("train", "validation", "test")})
    with pytest.raises(TaskError, match=r"train\.tsv has a malformed row"):
        load_task(folder)
    assert issubclass(TaskError, DataError)  # one error family for data that cannot be read


def test_subsample_keeps_the_requested_rows_deterministically(sst2_dir):
    task = load_task(sst2_dir)
    small, again = task.subsample(train=40, test=10, seed=3), task.subsample(train=40, test=10, seed=3)
    assert (len(small.train), len(small.validation), len(small.test)) == (40, 250, 10)
    assert small.train["sentence"] == again.train["sentence"] != task.train["sentence"][:40]
    assert set(small.train["sentence"]) <= set(task.train["sentence"])
    with pytest.raises(TaskError, match="keep at least 1"):
        task.subsample(train=0)


def test_test_rows_repeating_a_validation_row_are_left_out_and_counted():
    task = load_task(RTE)
    assert task.without_validation_rows_in_test() == (task, 0)  # the shipped sample is disjoint
    repeated = datasets.concatenate_datasets([task.test, task.validation.select([3, 7])])
    trimmed, left_out = Task(task.name, task.train, task.validation, repeated, task.text_columns,
                             task.label_names).without_validation_rows_in_test()
    assert left_out == 2 and trimmed.test.to_list() == task.test.to_list()
    # a pair counts as repeated only when both sides match
    crossed = task.validation.select([0]).map(lambda row: {"sentence2": task.validation[1]["sentence2"]})
    mixed = Task(task.name, task.train, task.validation, crossed, task.text_columns, task.label_names)
    assert mixed.without_validation_rows_in_test()[1] == 0
