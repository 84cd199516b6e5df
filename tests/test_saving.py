import json
import os
import stat

import pytest
import torch
from transformers import (
    AutoModel,
    AutoModelForSequenceClassification,
    AutoTokenizer,
    BertForSequenceClassification,
    GPT2Config,
    GPT2LMHeadModel,
)

from hf_ose import Architecture, get_adapter
from hf_ose.exceptions import OutputNotWritableError
from hf_ose.inheritance import InheritanceError, extract_model
from hf_ose.inheritance.saving import auto_class_name, save_student
from hf_ose.parent import load_parent_model
from .testing_utils import slow

SentenceTransformer = pytest.importorskip("sentence_transformers").SentenceTransformer

TEXTS = ["A gripping, beautifully shot film.", "The plot never comes together.", "It is fine."]
NARROW = Architecture(2, 6, 192, 768)


@pytest.fixture(scope="module")
def parent(minilm_path):
    return load_parent_model(minilm_path)


@pytest.fixture(scope="module")
def narrow_student(parent):
    return extract_model(parent, get_adapter(parent.config).write(parent.config, NARROW))


def encode(folder, texts=TEXTS) -> torch.Tensor:
    return SentenceTransformer(str(folder), device="cpu").encode(texts, convert_to_tensor=True)


def test_a_student_of_a_sentence_transformers_parent_is_a_sentence_transformer(
    minilm_path, narrow_student, tmp_path
):
    saved = save_student(narrow_student, tmp_path / "student", parent=minilm_path)
    assert (saved.load_with, saved.tokenizer, saved.sentence_transformers) == ("AutoModel", True, True)
    assert "SentenceTransformer(" in saved.how_to_load()
    pooling = json.loads((tmp_path / "student" / "1_Pooling" / "config.json").read_text())
    assert pooling["word_embedding_dimension"] == 192 and pooling["pooling_mode_mean_tokens"]

    embeddings = encode(tmp_path / "student")
    assert embeddings.shape == (3, 192)
    torch.testing.assert_close(embeddings.norm(dim=1), torch.ones(3))
    # the parent's pipeline on the student's weights: mean over tokens, then unit length
    model = AutoModel.from_pretrained(tmp_path / "student").eval()
    batch = AutoTokenizer.from_pretrained(tmp_path / "student")(TEXTS, padding=True, return_tensors="pt")
    with torch.no_grad():
        tokens = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    expected = torch.nn.functional.normalize((tokens * mask).sum(1) / mask.sum(1), dim=1)
    torch.testing.assert_close(embeddings, expected, atol=1e-5, rtol=1e-4)


@slow
def test_the_identity_student_encodes_exactly_as_the_parent(minilm_path, parent, tmp_path):
    save_student(extract_model(parent, parent.config), tmp_path / "student", parent=minilm_path)
    torch.testing.assert_close(encode(tmp_path / "student"), encode(minilm_path), atol=1e-5, rtol=1e-4)


def test_offline_a_hub_id_parent_gives_the_packaged_copys_tokenizer_and_pipeline(
    hub_cache_without_minilm, narrow_student, tmp_path
):
    saved = save_student(narrow_student, tmp_path / "student", parent="sentence-transformers/all-MiniLM-L6-v2")
    assert (saved.tokenizer, saved.sentence_transformers) == (True, True)


def test_a_classifier_student_keeps_its_labels_and_head(minilm_path, tmp_path):
    labels = {0: "negative", 1: "neutral", 2: "positive"}
    parent = BertForSequenceClassification.from_pretrained(
        minilm_path, num_labels=3, id2label=labels, label2id={v: k for k, v in labels.items()},
        problem_type="multi_label_classification",
    )
    parent.save_pretrained(tmp_path / "parent")
    AutoTokenizer.from_pretrained(minilm_path).save_pretrained(tmp_path / "parent")
    student = extract_model(tmp_path / "parent", get_adapter(parent.config).write(parent.config, NARROW)).eval()

    saved = save_student(student, tmp_path / "student", parent=tmp_path / "parent")
    assert (saved.load_with, saved.tokenizer, saved.sentence_transformers) == (
        "AutoModelForSequenceClassification", True, False)
    loaded = AutoModelForSequenceClassification.from_pretrained(tmp_path / "student").eval()
    assert type(loaded) is BertForSequenceClassification
    assert loaded.config.problem_type == "multi_label_classification" and loaded.config.num_labels == 3
    assert loaded.config.id2label == labels and loaded.config.label2id == {v: k for k, v in labels.items()}
    batch = AutoTokenizer.from_pretrained(tmp_path / "student")(TEXTS, padding=True, return_tensors="pt")
    with torch.no_grad():
        torch.testing.assert_close(loaded(**batch).logits, student(**batch).logits)


def test_a_classifier_student_keeps_its_labels_when_the_variant_comes_from_the_base_config(minilm_path):
    labels = {0: "negative", 1: "neutral", 2: "positive"}
    parent = BertForSequenceClassification.from_pretrained(
        minilm_path, num_labels=3, id2label=labels, label2id={v: k for k, v in labels.items()},
        problem_type="single_label_classification",
    )
    base_config = load_parent_model(minilm_path).config  # no labels: as `hf-ose extract` on the base model writes
    variant = get_adapter(base_config).write(base_config, NARROW)
    assert variant.num_labels == 2
    student = extract_model(parent, variant)
    assert student.config.num_labels == 3 and student.config.id2label == labels
    assert student.config.problem_type == "single_label_classification"
    assert variant.num_labels == 2  # the caller's config is left as it was


def test_a_pipeline_module_of_the_parents_width_is_refused_for_a_narrower_student(
    minilm_path, narrow_student, tmp_path
):
    parent_dir = tmp_path / "parent"
    parent_dir.mkdir()
    for item in minilm_path.iterdir():
        if item.name != "modules.json":
            (parent_dir / item.name).symlink_to(item)
    modules = json.loads((minilm_path / "modules.json").read_text())
    modules.insert(2, {"idx": 2, "name": "2", "path": "2_Dense", "type": "sentence_transformers.models.Dense"})
    (parent_dir / "modules.json").write_text(json.dumps(modules))
    with pytest.raises(InheritanceError, match="'2_Dense'.*sized to the parent's hidden size 384.*student's is 192"):
        save_student(narrow_student, tmp_path / "student", parent=parent_dir)
    assert not (tmp_path / "student").exists()


def test_an_interrupted_save_leaves_nothing_behind(narrow_student, tmp_path):
    class FailingTokenizer:
        def save_pretrained(self, folder):
            raise OSError("No space left on device")

    with pytest.raises(OSError, match="No space left"):
        save_student(narrow_student, tmp_path / "student", tokenizer=FailingTokenizer())
    assert list(tmp_path.iterdir()) == []


def test_the_student_folder_is_readable_by_others(narrow_student, tmp_path):
    previous = os.umask(0o022)
    try:
        save_student(narrow_student, tmp_path / "student")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "student").stat().st_mode) == 0o755
    assert stat.S_IMODE((tmp_path / "student" / "config.json").stat().st_mode) == 0o644


def test_a_folder_with_files_is_not_overwritten(narrow_student, tmp_path):
    (tmp_path / "notes.txt").write_text("keep me")
    with pytest.raises(OutputNotWritableError, match="not an empty folder"):
        save_student(narrow_student, tmp_path)
    assert (tmp_path / "notes.txt").read_text() == "keep me"


def test_the_auto_class_is_named_for_the_head():
    decoder = GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=32, n_head=2, vocab_size=64, n_positions=16))
    assert auto_class_name(decoder) == "AutoModelForCausalLM"
    assert auto_class_name(decoder.transformer) == "AutoModel"
