"""Tasks: real SST-2, RTE, STS-B and WNUT-17 folders, GLUE names through HF_OSE_DATA_DIR, datasets ids, task kinds
(classification, regression, token classification, embedding), CoNLL files, tokenizing, and every refusal."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import datasets
import pytest

from hf_ose.data import DataError
from hf_ose.tasks import Task, TaskError, align_word_labels, load_task, tokenize_task

from .conftest import TEST_DATA

RTE = TEST_DATA / "rte"
SHARED = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


def _shared(name: str) -> Path:
    """A real data set of ../shared/data (skipped with the reason when absent, e.g. on a user's machine)."""
    if not (SHARED / name).is_dir():
        pytest.skip(f"needs the real {name} data in ../shared/data/{name}")
    return SHARED / name


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
                                        r"\(train split labels: \['neg', 'pos'\]\)"):
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


# ---- task kinds -------------------------------------------------------------------------------------------
def test_stsb_is_read_as_regression_with_float_scores_and_its_declared_range_by_name(monkeypatch):
    task = load_task(_shared("stsb"))
    assert (task.kind, task.text_columns, task.num_labels, task.metric_name) == (
        "regression", ("sentence1", "sentence2"), 1, "pearson")
    assert (len(task.train), len(task.validation), len(task.test)) == (5749, 1500, 1379)
    assert task.train[0] == {"sentence1": "A plane is taking off.", "sentence2": "An air plane is taking off.",
                             "label": 5.0}
    assert task.train.features["label"].dtype == "float32" and task.score_range is None
    monkeypatch.setenv("HF_OSE_DATA_DIR", str(SHARED))
    named = load_task("stsb")
    assert named.score_range == (0.0, 5.0) and "scores in [0, 5]" in named.describe()


def test_wnut17_is_read_as_iob2_token_classification_with_o_first():
    task = load_task(_shared("wnut17"))
    assert (task.kind, task.text_columns, task.metric_name) == ("token-classification", ("tokens",), "f1")
    assert (len(task.train), len(task.validation), len(task.test)) == (3394, 1009, 1287)
    assert task.label_names == ("O", "B-corporation", "I-corporation", "B-creative-work", "I-creative-work",
                                "B-group", "I-group", "B-location", "I-location", "B-person", "I-person",
                                "B-product", "I-product")
    first = task.train[0]
    assert first["tokens"][14:17] == ["Empire", "State", "Building"]
    assert [task.label_names[tag] for tag in first["ner_tags"][14:19]] == [
        "B-location", "I-location", "I-location", "O", "B-location"]
    truth = task.test["ner_tags"][:50]
    assert task.compute_metrics(truth, truth)["f1"] == 1.0
    nothing = task.compute_metrics([[0] * len(tags) for tags in truth], truth)
    assert nothing["f1"] == 0.0 and 0.8 < nothing["accuracy"] < 1.0  # most tokens are O


def test_a_pair_task_read_as_embedding_gives_unique_train_sentences_and_scored_pairs():
    task = load_task(_shared("stsb"), kind="embedding")
    assert (task.kind, task.text_columns, task.metric_name, task.num_labels) == ("embedding", ("sentence",),
                                                                                 "spearman", 0)
    assert task.train.column_names == ["sentence"] and len(set(task.train["sentence"])) == len(task.train) > 5749
    assert task.train["sentence"][:2] == ["A plane is taking off.", "An air plane is taking off."]
    assert task.test.column_names == ["sentence1", "sentence2", "label"] and len(task.test) == 1379


def test_an_embedding_folder_of_text_lines_needs_no_similarity_split(tmp_path):
    folder = _folder(tmp_path, {"train.txt": "A man plays a guitar.\n\nA dog runs on the beach.\n"})
    task = load_task(folder)
    assert task.kind == "embedding" and task.train["sentence"] == ["A man plays a guitar.", "A dog runs on the beach."]
    assert len(task.validation) == len(task.test) == 0 and "no similarity split" in task.describe()
    pairs = "sentence1\tsentence2\tscore\nA man.\tA person.\t4.2\n"
    (folder / "validation.tsv").write_text(pairs)
    with pytest.raises(TaskError, match="similarity split for only one of validation and test: give both"):
        load_task(folder)
    (folder / "test.tsv").write_text(pairs)
    assert load_task(folder).test[0] == {"sentence1": "A man.", "sentence2": "A person.", "label": pytest.approx(4.2)}


CONLL = """-DOCSTART- -X- -X- O

Empire\tB-location
State\tI-location
Building\tI-location
is\tO
tall\tO

Alice NNP B-NP B-person
smiled VBD B-VP O
"""


def test_conll_column_files_read_like_json_lines(tmp_path):
    rows = _jsonl([{"tokens": ["Bob", "is", "here"], "ner_tags": ["B-person", "O", "O"]}])
    folder = _folder(tmp_path, {"train.conll": CONLL, "validation.txt": CONLL, "test.jsonl": rows})
    task = load_task(folder)
    assert task.kind == "token-classification"
    assert task.label_names == ("O", "B-location", "I-location", "B-person", "I-person")
    assert task.train["tokens"] == [["Empire", "State", "Building", "is", "tall"], ["Alice", "smiled"]]
    assert task.validation["ner_tags"] == [[1, 2, 2, 0, 0], [3, 0]] and task.test["ner_tags"] == [[3, 0, 0]]


def test_task_json_declares_the_kind_the_range_and_tag_names(tmp_path):
    rows = "sentence1\tsentence2\tlabel\na\tb\t0\nc\td\t5\n"
    folder = _folder(tmp_path, {f"{s}.tsv": rows for s in ("train", "validation", "test")})
    assert load_task(folder).kind == "classification"  # integer scores look like classes...
    (folder / "task.json").write_text('{"kind": "regression", "score_range": [0, 5]}')
    task = load_task(folder)  # ...until the folder says what they are
    assert (task.kind, task.score_range, task.train["label"]) == ("regression", (0.0, 5.0), [0.0, 5.0])
    tagged = _jsonl([{"tokens": ["Bob", "runs"], "ner_tags": [1, 0]}])
    (tmp_path / "ids").mkdir()
    ids = _folder(tmp_path / "ids", {f"{s}.jsonl": tagged for s in ("train", "validation", "test")})
    with pytest.raises(TaskError, match=r"tags of .* are ids with no names: name them by id in task\.json"):
        load_task(ids)
    (ids / "task.json").write_text('{"label_names": ["O", "B-person", "I-person"]}')
    assert load_task(ids).label_names == ("O", "B-person", "I-person")


def test_named_hub_copies_are_cut_like_glue_and_keep_class_label_tag_names(monkeypatch):
    monkeypatch.delenv("HF_OSE_DATA_DIR", raising=False)
    scored = datasets.Dataset.from_dict({"sentence1": [f"a{k}" for k in range(20)],
                                         "sentence2": [f"b{k}" for k in range(20)],
                                         "label": [k / 4 for k in range(20)], "idx": list(range(20))})
    names = ["O", "B-person", "I-person"]
    tagged = datasets.Dataset.from_dict(
        {"tokens": [["Bob", "Smith", "runs"]], "ner_tags": [[1, 2, 0]]},
        features=datasets.Features({"tokens": datasets.List(datasets.Value("string")),
                                    "ner_tags": datasets.List(datasets.ClassLabel(names=names))}))
    calls = []

    def load(name, config):
        calls.append((name, config))
        data = scored if name == "nyu-mll/glue" else tagged
        return datasets.DatasetDict({split: data for split in ("train", "validation", "test")})

    monkeypatch.setattr(datasets, "load_dataset", load)
    stsb, wnut = load_task("stsb"), load_task("wnut17")
    assert calls == [("nyu-mll/glue", "stsb"), ("leondz/wnut_17", None)]
    assert (stsb.kind, len(stsb.train), len(stsb.validation), stsb.test["sentence1"][:2]) == (
        "regression", 18, 2, ["a0", "a1"])
    assert (wnut.kind, wnut.label_names, wnut.test["ner_tags"]) == ("token-classification", tuple(names), [[1, 2, 0]])


def _tag_rows(*sentences: list[str]) -> str:
    return _jsonl([{"tokens": [f"w{k}" for k in range(len(tags))], "ner_tags": tags} for tags in sentences])


@pytest.mark.parametrize(("files", "message"), [
    ({"train.jsonl": _tag_rows(["B-PER", "S-PER"])},
     r"The tag 'S-PER' at token 1 of sentence 0 of the train split .* is not a BIO tag: tags must be O, B-TYPE"),
    ({"train.jsonl": _tag_rows(["O", "B-person"], ["O", "I-person"])},
     r"The tag 'I-person' at token 1 of sentence 1 of the train split .* follows 'O': in IOB2 an entity begins "
     r"with B-person\. Convert the tags to IOB2"),
    ({"train.jsonl": _tag_rows(["B-person", "I-location"])}, r"'I-location' at token 1 .* follows 'B-person'"),
    ({"train.jsonl": _jsonl([{"tokens": ["a", "b"], "ner_tags": ["O"]}])}, r"has 2 tokens and 1 tags"),
    ({"train.tsv": "sentence1\tsentence2\tscore\na\tb\t4.5\nc\td\thigh\n"},
     r"has the score 'high', which is not a number"),
    ({"train.tsv": "sentence1\tsentence2\tscore\na\tb\t7.5\n", "task.json": '{"score_range": [0, 5]}'},
     r"1 score\(s\) of the train split .* lie outside the declared range \[0, 5\] \(e\.g\. 7\.5\): fix those"),
    ({"train.jsonl": _jsonl([{"sentence": ""}]), "task.json": '{"kind": "embedding"}'},
     r"gives no text for an embedding task.*give its unlabelled sentences in a 'sentence' column"),
    ({"train.tsv": "sentence1\tsentence2\na\tb\n"}, r"sentence pairs but no 'label' or 'score' column"),
    ({"train.txt": "a\n", "task.json": '{"kind": "ranking"}'}, r"declares the kind 'ranking': write task\.json"),
])
def test_bad_task_data_is_refused_naming_the_fix(tmp_path, files, message):
    split = next(name for name in files if name.startswith("train"))
    folder = _folder(tmp_path, {**files, **{split.replace("train", s): files[split] for s in ("validation", "test")}})
    with pytest.raises(TaskError, match=message):
        load_task(folder)


def test_an_unknown_kind_argument_is_refused(sst2_dir):
    with pytest.raises(TaskError, match="Unknown task kind 'ner': use one of classification, regression, "
                                        "token-classification, embedding"):
        load_task(sst2_dir, kind="ner")


# ---- tokenizing -------------------------------------------------------------------------------------------
def test_align_word_labels_keeps_each_words_first_sub_word():
    assert align_word_labels([None, 0, 1, 1, 2, None], [3, 4, 0]) == [-100, 3, 4, -100, 0, -100]


def test_tokenize_task_aligns_wnut17_tags_to_sub_words(minilm_path):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(minilm_path)
    task = load_task(_shared("wnut17")).subsample(train=40, validation=10, test=10)
    data = tokenize_task(task, tokenizer, max_length=512)
    assert set(data) == {"train", "validation", "test"}
    assert data["train"].column_names == ["input_ids", "token_type_ids", "attention_mask", "labels"]
    continuations = 0
    for row, encoded in zip(task.train, data["train"]):
        kept = [label for label in encoded["labels"] if label != -100]
        assert kept == row["ner_tags"]  # one label per word, in order (nothing truncated at 512)
        tokens, labels = tokenizer.convert_ids_to_tokens(encoded["input_ids"]), encoded["labels"]
        assert (tokens[0], tokens[-1], labels[0], labels[-1]) == ("[CLS]", "[SEP]", -100, -100)
        later = [k for k, token in enumerate(tokens) if token.startswith("##")]  # a word's later sub-words
        assert all(labels[k] == -100 for k in later)
        continuations += len(later)
    assert continuations > 40  # tweets split into many sub-words


def test_tokenize_task_gives_scores_classes_and_embedding_text(minilm_path, sst2_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(minilm_path)
    stsb = load_task(_shared("stsb")).subsample(train=8, validation=4, test=4)
    scores = tokenize_task(stsb, tokenizer)["train"]
    assert scores.features["labels"].dtype == "float32" and scores["labels"] == pytest.approx(stsb.train["label"])
    first = tokenizer.decode(scores[0]["input_ids"])
    assert first.startswith("[CLS] ") and first.count("[SEP]") == 2  # encoded as a pair
    classes = tokenize_task(load_task(sst2_dir).subsample(train=8), tokenizer, max_length=16)["train"]
    assert classes.features["labels"].dtype == "int64" and max(map(len, classes["input_ids"])) <= 16
    embedding = tokenize_task(load_task(_shared("stsb"), kind="embedding").subsample(train=5), tokenizer)
    assert list(embedding) == ["train"] and embedding["train"].column_names == ["input_ids", "attention_mask"]


def test_test_rows_repeating_a_validation_sentence_are_found_for_tagged_tasks():
    task = load_task(_shared("wnut17")).subsample(validation=20, test=20)
    repeated = dataclasses.replace(task, test=datasets.concatenate_datasets([task.test, task.validation.select([2])]))
    trimmed, left_out = repeated.without_validation_rows_in_test()
    assert left_out == 1 and trimmed.test.to_list() == task.test.to_list()
