"""Agora with an unlabelled pool (issue 30) on real SST-2 rows: the nearest-neighbour sampler over the pool is the
default when a pool is given, draws each pool text at most once and never a text of the task's splits, respects the
cap per round, embeds with the teacher or each round's student; pool rows labelled up front join the training set;
the report counts points per source; pool files are read in every accepted form; bad input gets a clear error."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pytest
import torch
from datasets import Dataset
from transformers import AutoTokenizer

from hf_ose import AgoraArguments, AgoraReport, AgoraTrainer
from hf_ose.agora import AgoraError
from hf_ose.agora.interfaces import IGNORED, TokenizedPoint
from hf_ose.agora.rows import pool_words_point, words_point
from hf_ose.agora.samplers import (NearestNeighbourSampler, TokenEditSampler, head_input_features, read_unlabelled,
                                   source_of)
from hf_ose.distillation.losses import mean_pool
from hf_ose.commands import compress as compress_command
from hf_ose.commands import main
from hf_ose.compression.settings import CompressSettings, CompressSettingsError

from .agora_support import HashLabeller, sst2_rows, tiny_student, tiny_tagger, wnut_rows
from .test_agora_trainer import SETTINGS
from .test_agora_trainer import _args as _trainer_args
from .test_finetune_command import _tiny_bert, _tiny_classifier
from .testing_utils import slow

CAP = 12


@pytest.fixture(scope="module")
def tokenizer(minilm_path: Path):
    return AutoTokenizer.from_pretrained(minilm_path)


def _args(folder: Path, **options: Any) -> AgoraArguments:
    return _trainer_args(folder, **{"agora_settings": SETTINGS, "agora_samples_per_mistake": 3, **options})


def _pool() -> list[str]:
    """120 SST-2 training sentences the task does not use, plus two it does (which the trainer must leave out)."""
    return [row["sentence"] for row in sst2_rows("train", 120, start=200)] + [
        sst2_rows("train", 1)[0]["sentence"], sst2_rows("validation", 1)[0]["sentence"]]


def _trainer(folder: Path, tokenizer, labeller: Any = "teacher", unlabelled: Any = None, **options: Any
             ) -> AgoraTrainer:
    if labeller == "teacher":
        labeller = tiny_student(tokenizer.vocab_size, seed=7)
    return AgoraTrainer(model=tiny_student(tokenizer.vocab_size), args=_args(folder, **options),
                        train_dataset=sst2_rows("train", 64), eval_dataset=sst2_rows("validation", 40),
                        processing_class=tokenizer, labeller=labeller, test_dataset=sst2_rows("test", 24),
                        unlabelled=unlabelled)


def _points(folder: Path, round_index: int) -> list[dict[str, Any]]:
    lines = (folder / "agora" / f"round-{round_index}" / "points.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


@pytest.fixture(scope="module")
def pool_run(tmp_path_factory, tokenizer):
    """Three settings (rounds of 3, 2, 1: two rounds sample), the pool in the teacher's space, a cap per round."""
    folder = tmp_path_factory.mktemp("pool")
    trainer = _trainer(folder, tokenizer, unlabelled=_pool(), agora_max_points_per_round=CAP)
    trainer.train()
    return trainer, folder


@slow
def test_a_pool_makes_nearest_neighbours_the_default_sampler_in_the_teachers_space(pool_run) -> None:
    trainer, _ = pool_run
    assert isinstance(trainer.sampler, NearestNeighbourSampler)
    assert trainer.sampler.encoder is trainer.labeller  # the teacher model given as labeller, embedded once


@slow
def test_pool_points_are_pool_texts_drawn_once_never_the_tasks_own_and_capped(pool_run) -> None:
    trainer, folder = pool_run
    report = trainer.agora_report
    task_texts = {row["sentence"] for split, count in (("train", 64), ("validation", 40), ("test", 24))
                  for row in sst2_rows(split, count)}
    pool = set(_pool()) - task_texts
    drawn = []
    for entry in report.rounds[:-1]:
        points = _points(folder, entry.round)
        assert 0 < len(points) <= CAP and entry.generated == len(points)
        assert entry.sources == {"pool": {"generated": entry.generated, "kept": entry.kept}}
        assert {p["source"] for p in points} <= set(entry.mistake_indices)
        drawn += [p["point"] for p in points]
    assert set(drawn) <= pool
    assert len(drawn) == len(set(drawn))  # each pool text at most once, over both rounds
    assert any("2 left out: also in the training, development or test split" in note for note in report.notes)
    totals = report.points_by_source()["pool"]
    assert totals == {"generated": len(drawn), "kept": sum(e.kept for e in report.rounds)}
    saved = json.loads((folder / "agora_report.json").read_text())
    assert saved["points_by_source"] == {"pool": totals}
    assert AgoraReport.load(folder).rounds[0].sources == report.rounds[0].sources


@slow
def test_the_cap_takes_each_mistakes_nearest_first(tmp_path, tokenizer) -> None:
    trainer = _trainer(tmp_path, tokenizer, unlabelled=_pool(), agora_max_points_per_round=5, agora_max_rounds=2)
    trainer.train()
    points = _points(tmp_path, 0)
    assert len(points) == min(5, trainer.agora_report.rounds[0].mistakes)
    assert len({p["source"] for p in points}) == len(points)  # one (the nearest) per mistake before any second


@slow
def test_pool_rows_labelled_up_front_join_the_training_set_with_soft_targets(tmp_path, tokenizer) -> None:
    labeller = HashLabeller(label_names=("negative", "positive"))
    trainer = _trainer(tmp_path, tokenizer, labeller=labeller, unlabelled=_pool(), agora_pool_labelled=20,
                       agora_max_rounds=1, agora_pool_space="student", distill=True)
    trainer.train()
    report, split = trainer.agora_report, trainer.agora_train_split
    assert report.pool_labelled == report.pool_rows_kept == 20
    assert report.points_by_source() == {"pool-labelled": {"generated": 20, "kept": 20}}
    assert len(split) == 64 + 20 and report.rounds[0].train_size == 84
    added, labels = split.points[64:], split.labels[64:]
    assert set(added) <= set(_pool()) and len(set(added)) == 20
    assert labels == [int(row.argmax()) for row in labeller.probabilities(added)]


@slow
def test_in_the_students_space_the_sampler_embeds_with_each_rounds_best_student(tmp_path, tokenizer) -> None:
    trainer = _trainer(tmp_path, tokenizer, labeller=HashLabeller(), unlabelled=_pool(), agora_pool_space="student",
                       agora_settings=SETTINGS[:2], agora_drop_share=0.5)
    trainer.train()
    assert isinstance(trainer.sampler, NearestNeighbourSampler)
    assert trainer.sampler.tokenizer is tokenizer
    encoder, initial = trainer.sampler.encoder, trainer._initial_model
    assert type(encoder) is type(initial) and encoder is not initial
    assert not torch.equal(encoder.bert.embeddings.word_embeddings.weight,
                           initial.bert.embeddings.word_embeddings.weight)  # a trained student, not the start
    assert trainer.agora_report.rounds[0].sources["pool"]["generated"] > 0


def test_the_teachers_head_space_reads_what_its_output_layer_reads(tokenizer) -> None:
    """A sequence classifier's head reads BERT's pooled [CLS] vector; a tagger's per-token inputs are averaged over
    real tokens; a model without an output layer per label is refused, naming the other space."""
    batch = tokenizer(["a gripping , honest film", "dull"], padding=True, return_tensors="pt")
    classifier, tagger = tiny_student(tokenizer.vocab_size).eval(), tiny_tagger(tokenizer.vocab_size).eval()
    with torch.no_grad():
        assert torch.allclose(head_input_features(classifier, batch), classifier.bert(**batch).pooler_output)
        hidden = tagger.bert(**batch).last_hidden_state
        assert torch.allclose(head_input_features(tagger, batch), mean_pool(hidden, batch["attention_mask"]))
        with pytest.raises(AgoraError, match=r"no output layer with one output per label.*'teacher'"):
            head_input_features(classifier.bert, batch)
    pool = [row["sentence"] for row in sst2_rows("train", 30)]
    head = NearestNeighbourSampler(classifier, tokenizer, pool, features="head-input")
    encoder = NearestNeighbourSampler(classifier, tokenizer, pool)
    assert not torch.allclose(head.embed(pool[:4]) @ head.embed(pool).T,
                              encoder.embed(pool[:4]) @ encoder.embed(pool).T)  # another space
    with pytest.raises(AgoraError, match="features='pooled': choose one of mean-pooled, head-input"):
        NearestNeighbourSampler(classifier, tokenizer, pool, features="pooled")


@slow
def test_in_the_teachers_head_space_the_sampler_reads_the_labellers_output_layer(tmp_path, tokenizer) -> None:
    trainer = _trainer(tmp_path, tokenizer, unlabelled=_pool(), agora_pool_space="teacher-head", agora_max_rounds=2)
    trainer.train()
    assert trainer.sampler.encoder is trainer.labeller and trainer.sampler.features is head_input_features
    assert trainer.agora_report.rounds[0].sources["pool"]["generated"] > 0


@slow
def test_a_pool_file_works_like_a_list_and_token_edits_stay_the_default_without_one(tmp_path, tokenizer) -> None:
    pool_file = tmp_path / "pool.txt"
    pool_file.write_text("\n".join(_pool()) + "\n")
    with_file = _trainer(tmp_path / "file", tokenizer, agora_unlabelled=str(pool_file), agora_max_rounds=2)
    with_file.train()
    assert isinstance(with_file.sampler, NearestNeighbourSampler)
    without = _trainer(tmp_path / "none", tokenizer, agora_max_rounds=2)
    without.train()
    assert isinstance(without.sampler, TokenEditSampler)
    assert set(without.agora_report.rounds[0].sources) == {"edits"}


def test_pool_files_in_every_form_give_the_same_texts(tmp_path) -> None:
    texts = ["a gripping , honest film", "dull and far too long", "  "]
    (tmp_path / "pool.txt").write_text("\n".join(texts) + "\n")
    (tmp_path / "pool.jsonl").write_text("".join(json.dumps({"sentence": t, "label": 1}) + "\n" for t in texts))
    (tmp_path / "pool.tsv").write_text("text\n" + "\n".join(texts) + "\n")
    expected = texts[:2]
    for name in ("pool.txt", "pool.jsonl", "pool.tsv"):
        assert read_unlabelled(tmp_path / name) == expected, name
    assert read_unlabelled(Dataset.from_dict({"sentence": texts})) == expected
    assert read_unlabelled([("a premise", "a hypothesis")]) == [("a premise", "a hypothesis")]
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text(json.dumps({"premise": "it rains", "claim": "it is wet"}) + "\n")
    assert read_unlabelled(pairs, ["premise", "claim"]) == [("it rains", "it is wet")]
    words = tmp_path / "words.jsonl"  # a token-classification task's rows: words, tags ignored
    words.write_text("".join(json.dumps(row) + "\n" for row in wnut_rows("train", 3)))
    assert read_unlabelled(words) == [" ".join(row["tokens"]) for row in wnut_rows("train", 3)]


def test_sentences_of_words_draw_the_nearest_pool_sentences_as_untagged_words(tokenizer) -> None:
    """Token classification: a mistake is a tokenized sentence; its neighbours are pool sentences tokenized as
    words, each word's first sub-word marked for the labeller (tag 0), nearest first, never the mistake itself."""
    pool = [" ".join(row["tokens"]) for row in wnut_rows("train", 40)]
    mistakes = [words_point(row["tokens"], tokenizer, 64, [1] * len(row["tokens"])) for row in wnut_rows("train", 3)]
    sampler = NearestNeighbourSampler(tiny_student(tokenizer.vocab_size).bert, tokenizer, pool, draw_once=True,
                                      as_point=pool_words_point)
    drawn = sampler.sample(mistakes, 3, tokenizer=tokenizer, max_length=64, seed=0)
    assert [len(points) for points in drawn] == [3, 3, 3]
    by_ids = {pool_words_point(text, tokenizer, 64).input_ids: text for text in pool}
    texts = [[by_ids[point.input_ids] for point in points] for points in drawn]
    assert len({text for row in texts for text in row}) == 9  # drawn once
    for mistake, points, row in zip(mistakes, drawn, texts):
        assert all(isinstance(point, TokenizedPoint) for point in points)
        assert mistake.input_ids not in [point.input_ids for point in points]  # the mistake is in the pool too
        for point, text in zip(points, row):
            assert len(point.tagged_positions()) == len(text.split())  # one tag per word, on its first sub-word
            assert set(point.tags) <= {0, IGNORED} and point.tags[0] == IGNORED  # [CLS] carries none
    query = tokenizer.decode(list(mistakes[0].input_ids), skip_special_tokens=True)
    similarity = (sampler.embed([query]) @ sampler.embed(pool).T)[0]
    others = [k for k in similarity.argsort(descending=True).tolist() if pool[k] != pool[0]]
    assert texts[0] == [pool[k] for k in others[:3]]  # nearest first


@pytest.mark.parametrize("source, message", [
    ("missing.txt", "Cannot read the unlabelled pool"),
    ([" ", ""], "holds no text"),
    ([{"review": "a fine film"}], "no text column sentence or sentence1\\+sentence2 or text"),
    (42, "must be a file path, a datasets.Dataset or a list of texts"),
])
def test_unreadable_pools_are_refused_with_the_fix(tmp_path, source, message) -> None:
    with pytest.raises(AgoraError, match=message):
        read_unlabelled(tmp_path / source if source == "missing.txt" else source)


def test_draw_once_never_returns_a_pool_text_twice_and_exclude_leaves_texts_out(tokenizer) -> None:
    encoder = tiny_student(tokenizer.vocab_size).bert
    pool = [row["sentence"] for row in sst2_rows("train", 30)]
    sampler = NearestNeighbourSampler(encoder, tokenizer, pool, exclude=pool[:5], draw_once=True)
    assert sampler.pool == pool[5:] and sampler.remaining == 25
    queries = [row["sentence"] for row in sst2_rows("validation", 4)]
    first = sampler.sample(queries, 3, tokenizer=tokenizer, max_length=64, seed=0)
    second = sampler.sample(queries, 3, tokenizer=tokenizer, max_length=64, seed=1)
    drawn = [p for lists in (first, second) for points in lists for p in points]
    assert len(drawn) == 24 == len(set(drawn)) and set(drawn) <= set(pool[5:])
    assert sampler.remaining == 1
    embeddings = sampler._pool_embeddings
    sampler.use_encoder(tiny_student(tokenizer.vocab_size, seed=5).bert, tokenizer)
    assert sampler._pool_embeddings is None and embeddings is not None  # re-embedded with the new encoder
    last = [p for points in sampler.sample(queries, 3, tokenizer=tokenizer, max_length=64, seed=2) for p in points]
    assert last == sorted(set(pool[5:]) - set(drawn)) and sampler.remaining == 0
    assert source_of(sampler) == "pool" and source_of(TokenEditSampler()) == "edits"


@slow
def test_a_pool_of_sentences_feeds_agora_on_token_classification(tmp_path, tokenizer) -> None:
    """WNUT-17 words: Agora draws pool sentences near the development mistakes and the teacher tags them (every
    word's tag from the teacher's argmax); pool rows labelled up front join the training set tagged the same way;
    the task's own sentences stay out."""
    train, dev, test = wnut_rows("train", 48), wnut_rows("validation", 24), wnut_rows("test", 12)
    pool = [" ".join(row["tokens"]) for row in wnut_rows("train", 160)[60:]] + [" ".join(train[0]["tokens"])]
    teacher = tiny_tagger(tokenizer.vocab_size, seed=7)
    trainer = AgoraTrainer(model=tiny_tagger(tokenizer.vocab_size), processing_class=tokenizer, labeller=teacher,
                           args=_args(tmp_path, agora_max_rounds=2, agora_pool_labelled=10,
                                      metric_for_best_model="eval_f1"),
                           train_dataset=train, eval_dataset=dev, test_dataset=test, unlabelled=pool)
    trainer.train()
    report = trainer.agora_report
    assert isinstance(trainer.sampler, NearestNeighbourSampler)
    own = {" ".join(row["tokens"]) for row in (*train, *dev, *test)}
    left_out = sum(text in own for text in pool)  # train[0] and any sentence the splits repeat
    assert left_out >= 1 and report.pool_labelled == 10
    assert report.notes[0].startswith(f"unlabelled pool: {len(pool) - left_out} texts ({left_out} left out")
    generated = report.rounds[0].sources["pool"]["generated"]
    assert generated == report.rounds[0].kept > 0 and len(trainer.agora_train_split) == 48 + 10 + generated
    teacher.eval()
    for point in trainer.agora_train_split.points[48:]:
        text = tokenizer.decode(list(point.input_ids), skip_special_tokens=True)
        assert text not in {tokenizer.decode(tokenizer(t)["input_ids"], skip_special_tokens=True) for t in own}
        with torch.no_grad():
            tags = teacher(input_ids=torch.tensor([point.input_ids])).logits[0].argmax(-1).tolist()
        assert [point.tags[i] for i in point.tagged_positions()] == [tags[i] for i in point.tagged_positions()]


def test_nearest_neighbours_without_a_pool_is_refused(tmp_path, tokenizer) -> None:
    with pytest.raises(AgoraError, match="draws from an unlabelled pool: give AgoraArguments.agora_unlabelled"):
        _trainer(tmp_path, tokenizer, labeller=HashLabeller(), agora_sampler="nearest-neighbours").train()


def test_the_teachers_space_needs_a_labeller_with_a_model(tmp_path, tokenizer) -> None:
    with pytest.raises(AgoraError, match="HashLabeller has none.*agora_pool_space='student'"):
        _trainer(tmp_path, tokenizer, labeller=HashLabeller(), unlabelled=_pool()).train()


def test_a_pool_without_a_labeller_or_given_twice_is_refused(tmp_path, tokenizer) -> None:
    with pytest.raises(AgoraError, match="only through a labeller"):
        _trainer(tmp_path, tokenizer, labeller=None, unlabelled=_pool()).train()
    with pytest.raises(AgoraError, match="Both unlabelled= and args.agora_unlabelled"):
        _trainer(tmp_path, tokenizer, unlabelled=_pool(), agora_unlabelled="pool.txt")


@pytest.mark.parametrize("options, message", [
    ({"agora_pool_space": "parent"}, "agora_pool_space='parent': choose one of teacher, student, teacher-head"),
    ({"agora_max_points_per_round": 0}, "agora_max_points_per_round=0: give an integer >= 1 or None"),
    ({"agora_pool_labelled": -2}, "agora_pool_labelled=-2: give a row count >= 0, or -1"),
])
def test_invalid_pool_arguments_are_refused_with_the_field_named(tmp_path, options, message) -> None:
    with pytest.raises(AgoraError, match=message.replace("(", r"\(")):
        _args(tmp_path, **options)


@pytest.mark.parametrize("extra, message", [
    (["--unlabelled", "pool.txt"], "--unlabelled feeds Agora's sampler (--agora)"),
    (["--agora", "--pool-labelled", "10"], "--pool-labelled draws from --unlabelled FILE"),
    (["--agora", "--unlabelled", "missing.txt"], "Cannot read the unlabelled pool: missing.txt is not a file"),
])
def test_finetune_refuses_pool_options_that_do_nothing(minilm_path, sst2_dir, tmp_path, capsys, extra, message):
    out = tmp_path / "out"
    assert main(["finetune", str(minilm_path), "--task", str(sst2_dir), "--out", str(out), *extra]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


@slow
def test_finetune_with_unlabelled_samples_agoras_points_from_the_file(minilm_path, sst2_dir, tmp_path):
    encoder = _tiny_bert(tmp_path / "encoder", minilm_path)
    teacher = _tiny_classifier(tmp_path / "teacher", minilm_path, num_labels=2)
    pool = tmp_path / "pool.txt"
    pool.write_text("\n".join(_pool()) + "\n")
    out = tmp_path / "out"
    assert main(["finetune", str(encoder), "--task", str(sst2_dir), "--teacher", str(teacher),
                 "--agora", "--unlabelled", str(pool), "--max-points-per-round", "8", "--epochs", "1",
                 "--max-length", "32", "--train-rows", "32", "--max-rounds", "2", "--out", str(out)]) == 0
    report = json.loads((out / "agora_report.json").read_text())
    assert set(report["points_by_source"]) == {"pool"}
    assert 0 < report["points_by_source"]["pool"]["generated"] <= 8


def test_compress_passes_the_pool_to_its_agora_stage_and_refuses_a_missing_file(tmp_path) -> None:
    pool = tmp_path / "pool.txt"
    pool.write_text("a gripping , honest film\n")
    parser = argparse.ArgumentParser()
    compress_command.add_parser(parser.add_subparsers())
    args = parser.parse_args(["compress", "p/", "--task", "sst2", "--out", "o", "--unlabelled", str(pool),
                              "--pool-labelled", "300"])
    assert compress_command._settings(args).settings_for("unlabelled", "pool_labelled") == {
        "unlabelled": str(pool), "pool_labelled": 300}
    with pytest.raises(CompressSettingsError, match="unlabelled='missing.txt' is not a file"):
        CompressSettings(parent="p", task="t", unlabelled="missing.txt")
    with pytest.raises(CompressSettingsError, match="pool_labelled=300 draws from the unlabelled file"):
        CompressSettings(parent="p", task="t", pool_labelled=300)
    with pytest.raises(CompressSettingsError, match="pool_labelled=-2: give a number of pool texts"):
        CompressSettings(parent="p", task="t", unlabelled=str(pool), pool_labelled=-2)


def test_compress_options_added_later_leave_a_recorded_runs_fingerprints_as_they_were() -> None:
    """A run recorded before ``pool_labelled`` existed resumes its finetune stage: at the default the option is not
    part of the fingerprint."""
    assert CompressSettings(parent="p", task="t").settings_for("seed", "pool_labelled") == {"seed": 0}


@slow
def test_compress_finetune_stage_trains_on_the_pool_texts_the_teacher_labelled(minilm_path, sst2_dir, tmp_path):
    from hf_ose.compression.pipeline import finetune_stage
    from hf_ose.tasks import load_task

    teacher = _tiny_classifier(tmp_path / "teacher", minilm_path, num_labels=2)
    student = _tiny_classifier(tmp_path / "student", minilm_path, num_labels=2)
    pool = tmp_path / "pool.txt"
    pool.write_text("\n".join(_pool()) + "\n")
    settings = CompressSettings(parent=str(teacher), task=str(sst2_dir), unlabelled=str(pool), pool_labelled=30,
                                student_epochs=1.0, agora_rounds=1, max_length=32)
    task = load_task(str(sst2_dir)).subsample(train=32, validation=24, test=16)
    stage = tmp_path / "finetune"
    outputs = finetune_stage(settings, task, teacher, student, stage, progress=False)
    report = AgoraReport.load(stage / "model")
    assert outputs["pool_labelled"] == report.pool_labelled == report.pool_rows_kept == 30
    assert report.rounds[0].train_size == 32 + 30
