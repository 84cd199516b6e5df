"""Sentence-transformers parents end to end: the pipeline read from the folder, encoding as sentence-transformers
does, embedding distillation, STS and cross-model retrieval scores, int8 artifacts under sentence-transformers'
file names, and the sentence-similarity card."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from hf_ose.embeddings import (
    EmbeddingDistillationSettings, EmbeddingError, Pooling, SentenceEncoder, StsPairs, agreement, artifact_encoder,
    distil_embeddings, evaluate_sts, export_int8, onnx_int8_file, paraphrase_queries, read_sts_pairs,
    retrieval_recall, sentence_similarity_card, similarity_scores, teacher_targets,
)

from .testing_utils import slow

STSB = Path(__file__).resolve().parents[2] / "shared" / "data" / "stsb"
SENTENCES = [
    "A man is playing a guitar.", "A woman is slicing an onion.", "The cat sleeps on the warm windowsill.",
    "Two dogs run across a snowy field.", "The stock market fell sharply on Monday.", "A child rides a red bicycle.",
    "Someone is playing an acoustic guitar.", "An onion is being cut by a woman.", "Rain is expected tomorrow.",
    "The orchestra performed a symphony by Brahms.", "He bought a new laptop for work.", "Birds sing at dawn.",
]


@pytest.fixture(scope="module")
def tiny_st_dir(tmp_path_factory, minilm_path) -> Path:
    """A 2-layer, 32-wide BERT saved as a sentence-transformers model with the real parent's pipeline (mean
    pooling, Normalize) and tokenizer."""
    from transformers import BertConfig, BertModel

    from hf_ose import save_student

    config = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=64, max_position_embeddings=512)
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("tiny-st") / "model"
    save_student(BertModel(config), folder, parent=minilm_path)
    return folder


def _sentence_transformer(folder: Path):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(folder), device="cpu")


# ---- the pipeline ------------------------------------------------------------------------------------------
def test_the_parent_pipeline_is_read_from_its_folder(minilm_path):
    assert Pooling.from_folder(minilm_path) == Pooling(mode="mean", normalize=True, max_seq_length=256)


def test_encoding_matches_sentence_transformers_on_the_real_parent(minilm_path):
    ours = SentenceEncoder.from_pretrained(minilm_path).encode(SENTENCES, batch_size=5)
    theirs = _sentence_transformer(minilm_path).encode(SENTENCES)
    np.testing.assert_allclose(ours, theirs, atol=2e-5)
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)  # Normalize is applied


def test_a_saved_student_folder_loads_in_sentence_transformers_and_encodes_the_same(tiny_st_dir):
    modules = [module["type"].rsplit(".", 1)[-1] for module in json.loads((tiny_st_dir / "modules.json").read_text())]
    assert modules == ["Transformer", "Pooling", "Normalize"]
    pooling = json.loads((tiny_st_dir / "1_Pooling" / "config.json").read_text())
    assert pooling["word_embedding_dimension"] == 32
    theirs = _sentence_transformer(tiny_st_dir).encode(SENTENCES)
    np.testing.assert_allclose(SentenceEncoder.from_pretrained(tiny_st_dir).encode(SENTENCES), theirs, atol=2e-5)


def test_pooling_modes_use_only_real_tokens():
    hidden = torch.tensor([[[1.0, 0.0], [3.0, 4.0], [100.0, 100.0]]])  # the third token is padding
    mask = torch.tensor([[1, 1, 0]])
    assert Pooling("mean")(hidden, mask).tolist() == [[2.0, 2.0]]
    assert Pooling("max")(hidden, mask).tolist() == [[3.0, 4.0]]
    assert Pooling("cls")(hidden, mask).tolist() == [[1.0, 0.0]]
    assert torch.allclose(Pooling("mean_sqrt_len_tokens")(hidden, mask), torch.tensor([[4.0, 4.0]]) / 2 ** 0.5)
    assert torch.allclose(Pooling("mean", normalize=True)(hidden, mask), torch.tensor([[0.5 ** 0.5, 0.5 ** 0.5]]))


def test_a_plain_transformers_folder_is_refused_with_the_fix(tiny_classifier_dir):
    with pytest.raises(EmbeddingError, match=r"no modules.json.*Pooling\(mode="):
        Pooling.from_folder(tiny_classifier_dir)


def test_a_pipeline_with_a_dense_projection_is_refused(tmp_path, tiny_st_dir):
    modules = json.loads((tiny_st_dir / "modules.json").read_text())
    modules.insert(2, {"idx": 2, "name": "2", "path": "2_Dense", "type": "sentence_transformers.models.Dense"})
    (tmp_path / "modules.json").write_text(json.dumps(modules))
    with pytest.raises(EmbeddingError, match=r"not \['Dense'\]"):
        Pooling.from_folder(tmp_path)


def test_empty_texts_are_refused(tiny_st_dir):
    encoder = SentenceEncoder.from_pretrained(tiny_st_dir)
    with pytest.raises(EmbeddingError, match="non-empty string; found ''"):
        encoder.encode(["fine", ""])
    with pytest.raises(EmbeddingError, match="not one string"):
        encoder.encode("one sentence")


# ---- scores ------------------------------------------------------------------------------------------------
def test_sts_pairs_are_read_and_bad_scores_named(tmp_path):
    good = tmp_path / "pairs.tsv"
    good.write_text("sentence1\tsentence2\tscore\nA\tB\t4.5\nC\tD\t0.0\n")
    assert read_sts_pairs(good) == StsPairs(["A", "C"], ["B", "D"], [4.5, 0.0])
    outside = tmp_path / "outside.tsv"
    outside.write_text("sentence1\tsentence2\tscore\nA\tB\t4.5\nC\tD\t7\n")
    with pytest.raises(EmbeddingError, match=r"row 3: score '7' is not a number in \[0, 5\].*score_range"):
        read_sts_pairs(outside)
    with pytest.raises(EmbeddingError, match="lacks the columns"):
        read_sts_pairs(good, score="similarity")


def test_similarity_scores_correlate_cosines_with_scores():
    first = np.array([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0]])
    second = np.array([[1.0, 0.1], [1.0, 1.0], [0.0, 1.0]])  # cosines fall: 0.995, 0.707, 0
    assert similarity_scores(first, second, [5.0, 3.0, 0.5]).spearman == pytest.approx(1.0)
    assert similarity_scores(first, second, [0.5, 3.0, 5.0]).spearman == pytest.approx(-1.0)


def test_retrieval_recall_counts_the_relevant_row_among_the_closest():
    corpus = np.eye(4)
    queries = np.array([[1.0, 0.1, 0, 0], [0.9, 0.0, 0.0, 0.1]])  # the second query is closest to row 0, not 3
    assert retrieval_recall(queries, corpus, [0, 3], ks=(1, 2)) == {1: 0.5, 2: 1.0}
    with pytest.raises(EmbeddingError, match="keep the parent's embedding width"):
        retrieval_recall(np.ones((1, 3)), corpus, [0])


def test_paraphrase_queries_point_at_their_own_pair():
    pairs = StsPairs(["a", "b", "c"], ["x", "y", "x"], [4.5, 1.0, 5.0])
    assert paraphrase_queries(pairs) == (["a", "c"], ["x", "y"], [0, 0])


def test_the_real_stsb_test_split_reads_whole():
    if not (STSB / "test.tsv").is_file():
        pytest.skip(f"{STSB} is absent (the shared STS-B data)")
    pairs = read_sts_pairs(STSB / "test.tsv")
    assert len(pairs.scores) == 1379 and min(pairs.scores) >= 0 and max(pairs.scores) <= 5


# ---- distillation ------------------------------------------------------------------------------------------
def _half_depth(folder: Path, depth: int):
    """The model in ``folder`` cut to ``depth`` layers by inheritance (all its widths kept)."""
    from transformers import AutoModel

    from hf_ose import extract_model, get_adapter

    model = AutoModel.from_pretrained(folder)
    adapter = get_adapter(model.config)
    arch = adapter.read(model.config)
    return extract_model(model, adapter.write(model.config, type(arch)(depth, arch.heads, arch.hidden, arch.intermediate)))


def test_distillation_trains_the_student_in_place_and_leaves_word_embeddings_alone(tiny_st_dir):
    parent = SentenceEncoder.from_pretrained(tiny_st_dir)
    student = _half_depth(tiny_st_dir, 1)
    words, layer = student.get_input_embeddings().weight.detach().clone(), student.encoder.layer[0].output.dense.weight.detach().clone()
    log = distil_embeddings(student, parent.tokenizer, SENTENCES, teacher_targets(parent, SENTENCES), parent.pooling,
                            EmbeddingDistillationSettings(epochs=2, batch_size=5))
    assert log.steps == 6 and len(log.epoch_losses) == 2
    assert torch.equal(student.get_input_embeddings().weight, words)  # frozen by default
    assert not torch.equal(student.encoder.layer[0].output.dense.weight, layer)
    assert student.get_input_embeddings().weight.requires_grad and not student.training


@slow
def test_distillation_brings_a_shallower_student_towards_the_real_parent(minilm_path):
    parent = SentenceEncoder.from_pretrained(minilm_path)
    student = _half_depth(minilm_path, 1)
    targets = teacher_targets(parent, SENTENCES)
    encoder = SentenceEncoder.from_model(student, parent.tokenizer, parent.pooling)

    def distance() -> float:
        return float(((teacher_targets(encoder, SENTENCES) - targets) ** 2).mean())

    before, before_cosine = distance(), agreement(encoder.encode(SENTENCES), parent.encode(SENTENCES)).mean
    distil_embeddings(student, parent.tokenizer, SENTENCES, targets, parent.pooling,
                      EmbeddingDistillationSettings(epochs=10, batch_size=4, learning_rate=3e-4))
    assert distance() < before / 2
    assert agreement(encoder.encode(SENTENCES), parent.encode(SENTENCES)).mean > before_cosine


def test_a_narrower_student_is_refused_with_the_fix(tiny_st_dir):
    from transformers import BertConfig, BertModel

    student = BertModel(BertConfig(vocab_size=30522, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                   intermediate_size=32))
    parent = SentenceEncoder.from_pretrained(tiny_st_dir)
    with pytest.raises(EmbeddingError, match="must keep the parent's hidden size. Choose a variant with hidden size 32"):
        distil_embeddings(student, parent.tokenizer, SENTENCES[:2], teacher_targets(parent, SENTENCES[:2]),
                          parent.pooling)


def test_distillation_settings_refuse_an_unknown_loss():
    with pytest.raises(EmbeddingError, match=r"use one of \['mse', 'cosine'\]"):
        EmbeddingDistillationSettings(loss="kl")


# ---- int8 artifacts ----------------------------------------------------------------------------------------
@slow
def test_int8_artifacts_sit_under_sentence_transformers_names_and_embed_like_pytorch(tmp_path, tiny_st_dir):
    import shutil

    folder = tmp_path / "student"
    shutil.copytree(tiny_st_dir, folder)
    texts = SENTENCES * 3
    artifacts = export_int8(folder, texts, variant="avx2")
    assert [a.file_name for a in artifacts] == [onnx_int8_file("avx2"), "openvino/openvino_model_qint8_quantized.xml"]
    assert (folder / "onnx" / "model_qint8_avx2.onnx").is_file()
    assert (folder / "openvino" / "openvino_model_qint8_quantized.bin").is_file()
    assert not list(folder.glob(".export-*"))  # the scratch folders are gone
    reference = SentenceEncoder.from_pretrained(folder).encode(SENTENCES)
    for artifact in artifacts:
        assert artifact.agreement.min > 0.98, artifact
        found = artifact_encoder(folder, artifact.backend).encode(SENTENCES)
        assert agreement(found, reference).min > 0.98
    before = (folder / onnx_int8_file("avx2")).read_bytes()
    with pytest.raises(EmbeddingError, match="overwrite=True"):
        export_int8(folder, texts, backends=["onnx"], variant="avx2")
    assert (folder / onnx_int8_file("avx2")).read_bytes() == before


@slow
def test_sentence_transformers_onnx_backend_loads_the_artifact(tmp_path, tiny_st_dir):
    """Needs ``optimum.onnxruntime`` (beside transformers 5: the fork optimum-onnx-naf 0.1.1 with optimum 2.3.0,
    see docs/embeddings.md; not a dependency of hf-ose); skipped where it is missing."""
    pytest.importorskip("optimum.onnxruntime", reason="sentence-transformers' ONNX backend needs optimum.onnxruntime")
    import shutil

    folder = tmp_path / "student"
    shutil.copytree(tiny_st_dir, folder)
    (artifact,) = export_int8(folder, SENTENCES, backends=["onnx"])
    from sentence_transformers import SentenceTransformer

    loaded = SentenceTransformer(str(folder), device="cpu", backend="onnx",
                                 model_kwargs={"file_name": artifact.file_name})
    ours = artifact_encoder(folder, "onnx").encode(SENTENCES)
    np.testing.assert_allclose(loaded.encode(SENTENCES), ours, atol=1e-4)


# ---- the card ----------------------------------------------------------------------------------------------
def test_the_card_states_the_task_library_and_measured_spearman(tmp_path, tiny_st_dir, minilm_path):
    from huggingface_hub import ModelCard
    from transformers import AutoConfig

    from hf_ose.publish import write_card

    pairs = StsPairs(SENTENCES[:6], SENTENCES[6:], [5.0, 4.6, 0.2, 0.1, 0.3, 0.0])
    score = evaluate_sts(SentenceEncoder.from_pretrained(tiny_st_dir), pairs)
    inputs = sentence_similarity_card("tiny-st", "sentence-transformers/all-MiniLM-L6-v2",
                                      AutoConfig.from_pretrained(tiny_st_dir), AutoConfig.from_pretrained(minilm_path),
                                      score=score)
    card = ModelCard.load(write_card(inputs, tmp_path))
    assert card.data.pipeline_tag == "sentence-similarity" and card.data.library_name == "sentence-transformers"
    (result,) = [r for r in card.data.eval_results if r.metric_type == "spearman"]
    assert result.task_type == "sentence-similarity" and result.metric_value == pytest.approx(score.spearman)
    assert "SentenceTransformer(folder)" in card.text


# ---- the real parent ---------------------------------------------------------------------------------------
@slow
def test_a_distilled_half_depth_minilm_gains_spearman_on_real_sts(minilm_path):
    """Half of all-MiniLM-L6-v2's layers, distilled for one short epoch on STS-B training sentences, scores
    higher on 300 STS-B test pairs than before, and closer to the parent."""
    if not (STSB / "train.tsv").is_file():
        pytest.skip(f"{STSB} is absent (the shared STS-B data)")
    parent = SentenceEncoder.from_pretrained(minilm_path)
    test = read_sts_pairs(STSB / "test.tsv")
    test = StsPairs(test.first[:300], test.second[:300], test.scores[:300])
    texts = read_sts_pairs(STSB / "train.tsv").unique_sentences()[:512]
    student = _half_depth(minilm_path, 3)
    encoder = SentenceEncoder.from_model(student, parent.tokenizer, parent.pooling)
    before = evaluate_sts(encoder, test).spearman
    distil_embeddings(student, parent.tokenizer, texts, teacher_targets(parent, texts), parent.pooling)
    after = evaluate_sts(encoder, test).spearman
    assert after > before + 0.005, (before, after)
    assert evaluate_sts(parent, test).spearman > after
