"""AgoraTrainer as a drop-in for Trainer on any task: a token-classification script (tokenized WNUT-17 sentences,
DataCollatorForTokenClassification) that runs unchanged with Trainer -> AgoraTrainer and TrainingArguments ->
AgoraArguments; tokenized STS-B pairs for regression and tokenized SST-2 for classification; the word-level token
edits, the per-kind mistakes, losses and collation; and a clear error for each kind of bad input."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from datasets import Dataset
from transformers import (AutoModelForTokenClassification, AutoTokenizer, DataCollatorForTokenClassification,
                          DataCollatorWithPadding, HfArgumentParser, Trainer, TrainingArguments)

from hf_ose import AgoraArguments, AgoraReport, AgoraTrainer
from hf_ose.agora import AgoraError
from hf_ose.agora.interfaces import IGNORED, TokenizedPoint
from hf_ose.agora.kinds import CLASSIFICATION, REGRESSION, TOKEN_CLASSIFICATION, mistakes, row_predictions
from hf_ose.agora.labellers import CallableLabeller, ModelLabeller
from hf_ose.agora.rows import TEACHER_COLUMN, LabelSpace, encode, layout_of, read_split
from hf_ose.agora.samplers import NearestNeighbourSampler, TokenEditSampler
from hf_ose.agora.trainer import TeacherCollator
from hf_ose.distillation.losses import logits_kl_loss, score_distillation_loss, token_distillation_loss
from hf_ose.tasks import TaskError, load_task, tokenize_task

from .agora_support import (WNUT_TAGS, HashLabeller, shared_file, sst2_rows, stsb_rows, tiny_student, tiny_tagger,
                            wnut_rows)
from .testing_utils import slow

LABEL2ID = {tag: i for i, tag in enumerate(WNUT_TAGS)}


@pytest.fixture(scope="module")
def tokenizer(minilm_path: Path):
    return AutoTokenizer.from_pretrained(minilm_path)


def tokenize_and_align(tokenizer, rows: list[dict[str, Any]]) -> Dataset:
    """What a user's token-classification script does (transformers' run_ner): tokenize the words and put each
    word's tag on its first sub-word, -100 elsewhere."""
    def align(batch):
        encoded = tokenizer(batch["tokens"], is_split_into_words=True, truncation=True, max_length=64)
        labels = []
        for i, tags in enumerate(batch["ner_tags"]):
            previous, row = None, []
            for word in encoded.word_ids(i):
                row.append(-100 if word is None or word == previous else LABEL2ID[tags[word]])
                previous = word
            labels.append(row)
        encoded["labels"] = labels
        return encoded

    return Dataset.from_list(rows).map(align, batched=True, remove_columns=["tokens", "ner_tags"])


def _points(dataset: Dataset, tags: bool = True) -> list[TokenizedPoint]:
    return [TokenizedPoint(tuple(r["input_ids"]), tuple(r["attention_mask"]), tuple(r["token_type_ids"]),
                           tuple(r["labels"]) if tags else None) for r in dataset]


def _words(point: TokenizedPoint, special: set[int]) -> list[tuple[tuple[int, ...], int]]:
    """A tagged point's words: (sub-word ids, tag), a word being a tagged position and the untagged ones after."""
    words: list[tuple[list[int], int]] = []
    for token, tag in zip(point.input_ids, point.tags):
        if token in special:
            continue
        if tag != IGNORED or not words:
            words.append(([token], tag))
        else:
            words[-1][0].append(token)
    return [(tuple(ids), tag) for ids, tag in words]


# ---- samplers on token ids ---------------------------------------------------------------------------------------

def test_word_edits_keep_every_tag_with_its_word(tokenizer) -> None:
    points = _points(tokenize_and_align(tokenizer, wnut_rows("train", 12)))
    special = set(tokenizer.all_special_ids) - {tokenizer.unk_token_id, tokenizer.mask_token_id}
    sampler = TokenEditSampler()
    samples = sampler.sample(points, 6, tokenizer=tokenizer, max_length=64, seed=5)
    assert samples == sampler.sample(points, 6, tokenizer=tokenizer, max_length=64, seed=5)  # deterministic
    kinds = Counter()
    for point, new in zip(points, samples):
        assert new and len({p.input_ids for p in new}) == len(new)
        original = _words(point, special)
        for sample in new:
            assert sample.input_ids != point.input_ids and len(sample.input_ids) <= len(point.input_ids)
            assert sample.input_ids[0] == tokenizer.cls_token_id and sample.input_ids[-1] == tokenizer.sep_token_id
            assert sample.tags[0] == sample.tags[-1] == IGNORED
            words = _words(sample, special)
            masked = [w for w in words if w[0] == (tokenizer.mask_token_id,)]
            kept = Counter(w for w in words if w not in masked)
            assert not kept - Counter(original)  # every unmasked word is an original word with its own tag
            assert not Counter(t for _, t in words) - Counter(t for _, t in original)  # no tag invented
            if masked:
                kinds["mask"] += 1
                assert len(words) == len(original)
            elif len(words) == len(original) - 1:
                kinds["drop"] += 1
            else:
                assert Counter(words) == Counter(original) and words != original
                kinds["swap"] += 1
    assert set(kinds) == {"drop", "swap", "mask"}


def test_token_edits_on_tokenized_pairs_change_one_side_and_keep_special_tokens(tokenizer) -> None:
    rows = sst2_rows("train", 9)
    encoded = tokenizer([r["sentence"] for r in rows[:8]], [r["sentence"] for r in rows[1:]])
    points = [TokenizedPoint(tuple(ids), tuple(mask), tuple(types)) for ids, mask, types in
              zip(encoded["input_ids"], encoded["attention_mask"], encoded["token_type_ids"])]
    special = set(tokenizer.all_special_ids) - {tokenizer.unk_token_id, tokenizer.mask_token_id}

    def sides(point: TokenizedPoint) -> tuple[list[int], list[int]]:
        first = [t for t, k in zip(point.input_ids, point.token_type_ids) if k == 0 and t not in special]
        second = [t for t, k in zip(point.input_ids, point.token_type_ids) if k == 1 and t not in special]
        return first, second

    for point, new in zip(points, TokenEditSampler().sample(points, 4, tokenizer=tokenizer, max_length=128, seed=0)):
        assert len(new) == 4
        for sample in new:
            assert [t for t in sample.input_ids if t in special] == [t for t in point.input_ids if t in special]
            assert (sides(sample)[0] == sides(point)[0]) != (sides(sample)[1] == sides(point)[1])
            assert sample.attention_mask == (1,) * len(sample.input_ids) and sample.tags is None


def test_text_only_samplers_refuse_tokenized_points(tokenizer) -> None:
    sampler = NearestNeighbourSampler(tiny_student(tokenizer.vocab_size).bert, tokenizer, ["a film", "a play"])
    with pytest.raises(AgoraError, match="samples raw text.*'token-edits'"):
        sampler.sample([TokenizedPoint((101, 2023, 102))], 2, tokenizer=tokenizer, max_length=16, seed=0)


# ---- reading, mistakes, losses, collation ------------------------------------------------------------------------

def test_words_are_tokenized_with_tags_on_first_subwords(tokenizer) -> None:
    rows = wnut_rows("validation", 20)
    space = LabelSpace.of(tiny_tagger(tokenizer.vocab_size).config, TOKEN_CLASSIFICATION)
    split = read_split(rows, layout_of(rows, None, "dev"), space, "dev", tokenizer, 64)
    expected = tokenize_and_align(tokenizer, rows)
    assert [list(p.input_ids) for p in split.points] == expected["input_ids"]
    assert split.labels == expected["labels"] == [list(p.tags) for p in split.points]
    assert any(t not in (IGNORED, 0) for labels in split.labels for t in labels)  # real entities among them


def test_a_tasks_word_rows_read_as_tokenize_task_aligns_them(tokenizer) -> None:
    """One aligner: AgoraTrainer reading a token-classification task's own rows (words and tag ids) gives the
    tokens and labels tokenize_task gives (hf_ose.tasks.align_word_labels)."""
    task = load_task(shared_file("wnut17/train.jsonl").parent).subsample(train=30, validation=5, test=5)
    space = LabelSpace.of(tiny_tagger(tokenizer.vocab_size, tags=task.label_names).config, TOKEN_CLASSIFICATION)
    split = read_split(task.train, layout_of(task.train, None, "train"), space, "train", tokenizer, 48)
    expected = tokenize_task(task, tokenizer, max_length=48)["train"]
    assert [list(p.input_ids) for p in split.points] == expected["input_ids"]
    assert split.labels == expected["labels"]
    assert any(t > 0 for labels in split.labels for t in labels)  # real entities among them


@pytest.mark.parametrize("tokens, tags, message", [
    (["a", "b"], ["O"], "has 2 tokens and 1 tags: give one tag per token"),
    (["a", " "], ["O", "O"], "has a token that is not a non-empty string"),
])
def test_a_bad_tagged_sentence_gets_the_same_refusal_from_load_task_and_agora(tmp_path, tokenizer, tokens, tags,
                                                                             message) -> None:
    good = {"tokens": ["Paris", "is", "big"], "ner_tags": ["B-location", "O", "O"]}
    for split in ("train", "validation", "test"):
        rows = [good, {"tokens": tokens, "ner_tags": tags}] if split == "train" else [good]
        (tmp_path / f"{split}.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    with pytest.raises(TaskError, match=f"Sentence 1 of the train split of .*{message}"):
        load_task(tmp_path)
    trainer = AgoraTrainer(model=tiny_tagger(tokenizer.vocab_size), args=_args(tmp_path / "out"),
                           train_dataset=[good, {"tokens": tokens, "ner_tags": tags}], eval_dataset=[good],
                           processing_class=tokenizer)
    with pytest.raises(AgoraError, match=f"Row 1 of the training set {message}"):
        trainer.train()


def test_a_tagger_without_tag_names_needs_them_or_compute_metrics(tmp_path, tokenizer) -> None:
    model = tiny_tagger(tokenizer.vocab_size, tags=[f"LABEL_{i}" for i in range(3)])
    with pytest.raises(AgoraError, match=r"scores token classification by entity F1.*id2label names none.*"
                                         r"\(O, B-TYPE, I-TYPE\), or pass compute_metrics="):
        AgoraTrainer(model=model, args=_args(tmp_path), processing_class=tokenizer)
    AgoraTrainer(model=model, args=_args(tmp_path), processing_class=tokenizer,
                 compute_metrics=lambda prediction: {})  # the user's own metrics need no tag names


def test_the_report_names_the_tasks_metric_and_reads_old_reports(tmp_path) -> None:
    report = AgoraReport(metric="eval_pearson", greater_is_better=True, task=REGRESSION, test_metric_name="pearson",
                         test_metric=0.81)
    data = json.loads(report.save(tmp_path).read_text())
    assert (data["test_metric_name"], data["test_metric"], data["test_accuracy"]) == ("pearson", 0.81, None)
    old = {"metric": "eval_pearson", "greater_is_better": True, "test_accuracy": 0.77, "notes": [
        "regression: fine-tuned with transformers.Trainer on tokenized rows; Agora's points near mistakes are not "
        "sampled; test_accuracy holds the test pearson"]}
    read = AgoraReport.from_dict(old)
    assert (read.test_metric_name, read.test_metric, read.test_accuracy) == ("pearson", 0.77, None)
    old_classification = {"metric": "eval_accuracy", "greater_is_better": True, "test_accuracy": 0.9}
    read = AgoraReport.from_dict(old_classification)
    assert (read.test_metric_name, read.test_metric, read.test_accuracy) == ("accuracy", 0.9, 0.9)


def test_padded_tokenized_rows_give_new_points_their_width(tokenizer) -> None:
    rows = sst2_rows("train", 6)
    dataset = Dataset.from_dict({**tokenizer([r["sentence"] for r in rows], padding="max_length", max_length=48),
                                 "label": [r["label"] for r in rows]})
    space = LabelSpace.of(tiny_student(tokenizer.vocab_size).config)
    split = read_split(dataset, layout_of(dataset, None, "train"), space, "train", tokenizer, 48)
    assert split.width == 48 and all(len(p.input_ids) < 48 for p in split.points)  # padding stripped
    new = TokenEditSampler().sample(split.points[:2], 2, tokenizer=tokenizer, max_length=48, seed=0)
    encoded = encode(tokenizer, split.extended(new[0], [1, 0]), 48)
    assert {len(ids) for ids in encoded["input_ids"]} == {48}
    assert encoded["input_ids"][:6] == dataset["input_ids"] and encoded["labels"][6:] == [1, 0]
    assert sum(encoded["attention_mask"][6]) == len(new[0][0].input_ids)


def test_mistakes_per_kind() -> None:
    assert mistakes(CLASSIFICATION, np.array([0, 1, 1]), [0, 0, 1]) == [1]
    assert mistakes(REGRESSION, np.array([1.0, 2.5, 4.9]), [1.6, 2.0, 3.0], tolerance=0.5) == [0, 2]  # 0.5 is fine
    predicted = [np.array([0, 3]), np.array([1]), np.array([2, 2])]
    labels = [[IGNORED, 0, IGNORED, 3, IGNORED], [IGNORED, 2, IGNORED], [IGNORED, 2, 2, IGNORED]]
    assert mistakes(TOKEN_CLASSIFICATION, predicted, labels) == [1]


def test_token_predictions_are_read_at_the_labelled_positions() -> None:
    logits = np.full((2, 5, 3), -100.0)  # Trainer pads predictions with -100 across batches
    logits[0, :4] = [[0, 0, 1], [5, 0, 0], [0, 4, 0], [0, 0, 9]]
    logits[1, :3] = [[1, 0, 0], [0, 0, 2], [3, 0, 0]]
    label_ids = np.array([[IGNORED, 0, 1, IGNORED, IGNORED], [IGNORED, 2, IGNORED, IGNORED, IGNORED]])
    rows = row_predictions(TOKEN_CLASSIFICATION, logits, label_ids)
    assert [r.tolist() for r in rows] == [[0, 1], [2]]
    assert row_predictions(REGRESSION, (np.array([[0.5], [2.0]]),), None).tolist() == [0.5, 2.0]


def test_token_and_score_distillation_losses_count_what_they_should() -> None:
    torch.manual_seed(0)
    logits, teacher = torch.randn(2, 4, 3), torch.randn(2, 4, 3).log_softmax(-1)
    labels = torch.tensor([[IGNORED, 2, IGNORED, 0], [IGNORED, 1, 1, IGNORED]])
    tagged = labels != IGNORED
    expected = 0.3 * F.cross_entropy(logits[tagged], labels[tagged]) \
        + 0.7 * logits_kl_loss(logits[tagged], teacher[tagged], temperature=2.0)
    assert float(token_distillation_loss(logits, labels, teacher, 0.3, 2.0)) == pytest.approx(float(expected), rel=1e-6)
    changed = teacher.clone()
    changed[~tagged] = 0.0  # untagged positions do not count
    assert float(token_distillation_loss(logits, labels, changed, 0.3, 2.0)) == pytest.approx(float(expected), rel=1e-6)
    scores, gold, soft = torch.tensor([[1.0], [2.0]]), torch.tensor([1.5, 2.0]), torch.tensor([1.0, 3.0])
    assert float(score_distillation_loss(scores, gold, soft, 0.25)) == pytest.approx(0.25 * 0.125 + 0.75 * 0.5)


def test_teacher_collator_pads_per_token_targets_beside_the_labels(tokenizer) -> None:
    features = [{"input_ids": [101, 2023, 102], "labels": [IGNORED, 1, IGNORED], TEACHER_COLUMN: [[0.1, 0.9]] * 3},
                {"input_ids": [101, 2023, 2003, 2307, 102], "labels": [IGNORED, 0, 1, 1, IGNORED],
                 TEACHER_COLUMN: [[0.7, 0.3]] * 5}]
    batch = TeacherCollator(DataCollatorForTokenClassification(tokenizer))(features)
    assert batch[TEACHER_COLUMN].shape == (2, 5, 2) and batch["labels"].shape == (2, 5)
    assert batch[TEACHER_COLUMN][0, 3:].abs().sum() == 0 and batch[TEACHER_COLUMN][0, 1].tolist() == \
        pytest.approx([0.1, 0.9])


def test_model_labeller_tags_tokenized_points_per_token(tokenizer) -> None:
    tagger = tiny_tagger(tokenizer.vocab_size).eval()
    points = _points(tokenize_and_align(tokenizer, wnut_rows("train", 5)))
    answers = ModelLabeller(tagger, tokenizer, batch_size=2).tag_probabilities(points)
    for point, answer in zip(points, answers):
        with torch.no_grad():
            alone = torch.softmax(tagger(input_ids=torch.tensor([point.input_ids])).logits[0], -1).numpy()
        assert answer.shape == (len(point.input_ids), len(WNUT_TAGS)) and np.allclose(answer, alone, atol=1e-5)
    with pytest.raises(AgoraError, match="does not match the task"):
        ModelLabeller(tagger, tokenizer).probabilities(["a film"])
    with pytest.raises(AgoraError, match="num_labels=2: a regression task"):
        ModelLabeller(tiny_student(tokenizer.vocab_size), tokenizer).scores(["a film"])


# ---- bad input ----------------------------------------------------------------------------------------------------

def _args(folder: Path, **options: Any) -> AgoraArguments:
    base = dict(output_dir=str(folder), use_cpu=True, report_to=[], disable_tqdm=True, save_strategy="no",
                per_device_train_batch_size=16, per_device_eval_batch_size=32, num_train_epochs=1, seed=0,
                logging_strategy="no")
    return AgoraArguments(**{**base, **options})


def _ner(tokenizer, count: int, split: str = "train") -> Dataset:
    return tokenize_and_align(tokenizer, wnut_rows(split, count))


def _sst2_tokenized(tokenizer, split: str, count: int) -> Dataset:
    rows = sst2_rows(split, count)
    return Dataset.from_dict({**tokenizer([r["sentence"] for r in rows]), "labels": [r["label"] for r in rows]})


@pytest.mark.parametrize("case, message", [
    ("no labels", "tokenized \\(input_ids\\) but has no labels"),
    ("tags for a sequence classifier", "a label per token.*head does not match the labels"),
    ("one label per row for a tagger", "one label per row.*AutoModelForSequenceClassification"),
    ("scores for a classifier", "a score, but the student classifies 2 classes.*num_labels=1"),
    ("tags not aligned", "has 3 labels for .* tokens: align the tags"),
    ("a tag out of range", "tags \\[13\\]"),
    ("mixed forms", "holds text rows but the training set tokenized rows"),
    ("a labeller for another task", "does not match the task"),
])
def test_bad_input_is_refused_before_training(tmp_path, tokenizer, case, message) -> None:
    model, train, dev, labeller = tiny_tagger(tokenizer.vocab_size), _ner(tokenizer, 8), _ner(tokenizer, 4,
                                                                                               "validation"), None
    if case == "no labels":
        train = train.remove_columns("labels")
    elif case == "tags for a sequence classifier":
        model = tiny_student(tokenizer.vocab_size)
    elif case == "one label per row for a tagger":
        train, dev = _sst2_tokenized(tokenizer, "train", 8), _sst2_tokenized(tokenizer, "validation", 4)
    elif case == "scores for a classifier":
        model, train = tiny_student(tokenizer.vocab_size), stsb_rows("train", 8)
        dev = stsb_rows("validation", 4)
    elif case == "tags not aligned":
        train = train.map(lambda row, i: {"labels": row["labels"][:3] if i == 2 else row["labels"]}, with_indices=True)
    elif case == "a tag out of range":
        train = train.map(lambda row: {"labels": [13 if t == 0 else t for t in row["labels"]]})
    elif case == "mixed forms":
        model, train, dev = tiny_student(tokenizer.vocab_size), _sst2_tokenized(tokenizer, "train", 8), \
            sst2_rows("validation", 4)
    else:
        labeller = ModelLabeller(tiny_student(tokenizer.vocab_size, num_labels=len(WNUT_TAGS)), tokenizer)
    trainer = AgoraTrainer(model=model, args=_args(tmp_path), train_dataset=train, eval_dataset=dev,
                           data_collator=None if isinstance(train, list) else DataCollatorForTokenClassification(
                               tokenizer) if "labels" in train.column_names and isinstance(train[0]["labels"], list)
                           else DataCollatorWithPadding(tokenizer), processing_class=tokenizer, labeller=labeller)
    with pytest.raises(AgoraError, match=message):
        trainer.train()
    assert not (tmp_path / "agora").exists()  # refused before any fine-tuning


def test_a_multi_label_classifier_is_refused(tmp_path, tokenizer) -> None:
    model = tiny_student(tokenizer.vocab_size, problem_type="multi_label_classification")
    with pytest.raises(AgoraError, match="multi-label"):
        AgoraTrainer(model=model, args=_args(tmp_path), processing_class=tokenizer)


def test_score_tolerance_is_checked(tmp_path) -> None:
    with pytest.raises(AgoraError, match="agora_score_tolerance=-1"):
        _args(tmp_path, agora_score_tolerance=-1.0)


# ---- drop-in runs --------------------------------------------------------------------------------------------------

def ner_script(trainer_class: type[Trainer], arguments_class: type[TrainingArguments], argv: list[str],
               tokenizer) -> tuple[Trainer, Any]:
    """A token-classification script as users write one (transformers' run_ner, reduced to its core): arguments
    from the command line, a tokenized dataset with aligned tags, DataCollatorForTokenClassification."""
    (args,) = HfArgumentParser(arguments_class).parse_args_into_dataclasses(argv)
    train = tokenize_and_align(tokenizer, wnut_rows("train", 48))
    dev = tokenize_and_align(tokenizer, wnut_rows("validation", 24))
    model = tiny_tagger(tokenizer.vocab_size)
    trainer = trainer_class(model=model, args=args, train_dataset=train, eval_dataset=dev,
                            data_collator=DataCollatorForTokenClassification(tokenizer), processing_class=tokenizer)
    result = trainer.train()
    trainer.save_model()
    return trainer, result


def _eval_loss(model, folder: Path, tokenizer) -> float:
    trainer = Trainer(model=model, args=TrainingArguments(output_dir=str(folder), use_cpu=True, report_to=[]),
                      eval_dataset=tokenize_and_align(tokenizer, wnut_rows("validation", 24)),
                      data_collator=DataCollatorForTokenClassification(tokenizer))
    return trainer.evaluate()["eval_loss"]


@slow
def test_a_token_classification_script_runs_unchanged_with_agora(tmp_path, tokenizer) -> None:
    common = ["--use_cpu", "--report_to", "none", "--save_strategy", "no", "--disable_tqdm", "true",
              "--num_train_epochs", "4", "--learning_rate", "2e-3", "--per_device_train_batch_size", "16",
              "--seed", "0"]
    teacher_dir = tmp_path / "trainer"
    plain, plain_result = ner_script(Trainer, TrainingArguments, ["--output_dir", str(teacher_dir), *common],
                                     tokenizer)
    untrained = _eval_loss(tiny_tagger(tokenizer.vocab_size), tmp_path / "eval", tokenizer)
    assert plain.evaluate()["eval_loss"] < untrained

    agora_dir = tmp_path / "agora"
    trainer, result = ner_script(AgoraTrainer, AgoraArguments, [
        "--output_dir", str(agora_dir), *common, "--agora_labeller", str(teacher_dir), "--agora_max_rounds", "2",
        "--agora_drop_share", "0", "--agora_samples_per_mistake", "2", "--distill"], tokenizer)
    report = trainer.agora_report
    first = report.rounds[0]
    assert report.task == "token-classification" and result.metrics["agora_rounds"] == 2
    assert first.mistakes > 0 and first.generated > 0 and first.kept == first.generated  # no confidence floor
    assert report.rounds[1].train_size == 48 + first.kept
    assert report.dev_score < untrained and np.isfinite(result.training_loss)  # it trains, distilling on tags
    # the best model's mistakes: sentences with any wrong tag, recomputed here
    dev = tokenize_and_align(tokenizer, wnut_rows("validation", 24))
    best = report.rounds[report.best_round]
    wrong = []
    trainer.model.eval()
    for k, row in enumerate(dev):
        with torch.no_grad():
            tags = trainer.model(input_ids=torch.tensor([row["input_ids"]])).logits[0].argmax(-1).tolist()
        if any(t != y for t, y in zip(tags, row["labels"]) if y != IGNORED):
            wrong.append(k)
    assert best.mistake_indices == wrong
    # new points: edits of mistaken sentences, tagged by the teacher on every word's first sub-word
    teacher = AutoModelForTokenClassification.from_pretrained(teacher_dir).eval()
    added = trainer.agora_train_split.points[48:]
    assert len(added) == first.kept
    sources = {tuple(dev[k]["input_ids"]) for k in first.mistake_indices}
    for point in added[:10]:
        with torch.no_grad():
            expected = teacher(input_ids=torch.tensor([point.input_ids])).logits[0].argmax(-1).tolist()
        assert [t for t in point.tags if t != IGNORED] == [expected[i] for i in point.tagged_positions()]
        assert point.input_ids not in sources and point.tagged_positions()
    assert trainer.agora_train_split.labels[48:] == [list(p.tags) for p in added]
    assert AutoModelForTokenClassification.from_pretrained(agora_dir).config.num_labels == len(WNUT_TAGS)


def _pairs_tokenized(tokenizer, split: str, count: int) -> Dataset:
    rows = stsb_rows(split, count)
    encoded = tokenizer([r["sentence1"] for r in rows], [r["sentence2"] for r in rows], truncation=True,
                        max_length=64)
    return Dataset.from_dict({**encoded, "labels": [r["label"] for r in rows]})


@slow
def test_regression_on_tokenized_sts_b_pairs(tmp_path, tokenizer) -> None:
    teacher = tiny_student(tokenizer.vocab_size, seed=1, num_labels=1).eval()
    trainer = AgoraTrainer(model=tiny_student(tokenizer.vocab_size, num_labels=1),
                           args=_args(tmp_path, agora_max_rounds=2, agora_drop_share=0.0, agora_score_tolerance=1.0,
                                      agora_samples_per_mistake=2, distill=True, learning_rate=1e-3,
                                      num_train_epochs=2),
                           train_dataset=_pairs_tokenized(tokenizer, "train", 48),
                           eval_dataset=_pairs_tokenized(tokenizer, "validation", 24), processing_class=tokenizer,
                           labeller=teacher)
    trainer.train()
    report, dev = trainer.agora_report, _pairs_tokenized(tokenizer, "validation", 24)
    assert report.task == "regression"
    best = report.rounds[report.best_round]
    collate = DataCollatorWithPadding(tokenizer)
    batch = collate([{k: row[k] for k in ("input_ids", "attention_mask", "token_type_ids")} for row in dev])
    with torch.no_grad():
        predicted = trainer.model.eval()(**batch).logits[:, 0].numpy()
    assert best.mistake_indices == [k for k, y in enumerate(dev["labels"]) if abs(predicted[k] - y) > 1.0]
    first = report.rounds[0]
    assert first.generated > 0 and first.kept == first.generated
    added, scores = trainer.agora_train_split.points[48:], trainer.agora_train_split.labels[48:]
    train_scores = _pairs_tokenized(tokenizer, "train", 48)["labels"]
    assert len(added) == first.kept
    for point, score in zip(added, scores):  # the teacher's score, clipped to the training scores' range
        with torch.no_grad():
            raw = float(teacher(input_ids=torch.tensor([point.input_ids]),
                                token_type_ids=torch.tensor([point.token_type_ids])).logits[0, 0])
        assert score == pytest.approx(min(max(raw, min(train_scores)), max(train_scores)), abs=1e-5)


@slow
def test_classification_on_tokenized_sst2_with_a_padding_collator(tmp_path, tokenizer) -> None:
    labeller = HashLabeller()
    trainer = AgoraTrainer(model=tiny_student(tokenizer.vocab_size),
                           args=_args(tmp_path, agora_max_rounds=2, agora_drop_share=0.0, agora_min_confidence=0.6,
                                      agora_samples_per_mistake=3, learning_rate=1e-3),
                           train_dataset=_sst2_tokenized(tokenizer, "train", 64),
                           eval_dataset=_sst2_tokenized(tokenizer, "validation", 32),
                           test_dataset=_sst2_tokenized(tokenizer, "test", 32),
                           data_collator=DataCollatorWithPadding(tokenizer), processing_class=tokenizer,
                           labeller=labeller)
    trainer.train()
    report = trainer.agora_report
    first = report.rounds[0]
    assert report.task == "classification" and 0 < first.kept < first.generated  # the floor refused some
    added, labels = trainer.agora_train_split.points[64:], trainer.agora_train_split.labels[64:]
    probabilities = labeller.probabilities(added)
    assert labels == probabilities.argmax(axis=1).tolist() and (probabilities.max(axis=1) >= 0.6).all()
    assert all(p.input_ids[0] == tokenizer.cls_token_id and p.input_ids[-1] == tokenizer.sep_token_id for p in added)
    assert set(report.test_metrics) == {"test_loss", "test_accuracy", "test_macro_f1"}  # the kind's metrics
    assert report.test_metric_name == "accuracy" and report.test_metric == report.test_accuracy
    assert 0 <= report.test_accuracy <= 1


def test_callable_labeller_scores_and_tags_are_checked() -> None:
    assert CallableLabeller(lambda points: [1.5] * len(points)).scores(["a", "b"]).tolist() == [1.5, 1.5]
    with pytest.raises(AgoraError, match="one finite score per point"):
        CallableLabeller(lambda points: [[0.5, 0.5]] * len(points)).scores(["a", "b"])
    point = TokenizedPoint((101, 7, 102), tags=(IGNORED, 0, IGNORED))
    tags = CallableLabeller(lambda points: [np.full((3, 2), 0.5)] * len(points)).tag_probabilities([point])
    assert tags[0].shape == (3, 2)
    with pytest.raises(AgoraError, match=r"shape \(2, 2\) for a point of 3 tokens"):
        CallableLabeller(lambda points: [np.full((2, 2), 0.5)]).tag_probabilities([point])
