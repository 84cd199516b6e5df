"""Token classifiers and regression models through export: Optimum's file names, per-token logits with dynamic
axes, the text they take (words from JSON lines, or sentences split on whitespace), what parity measures for
each (tag agreement on real tokens, special tokens and padding excluded; score correlation and difference), and
a slow check on the real parent with a fitted tagging head on WNUT-17."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import (
    AutoModelForTokenClassification, AutoTokenizer, BertConfig, BertForSequenceClassification,
    BertForTokenClassification,
)

from hf_ose.commands import main
from hf_ose.data import load_texts, read_rows
from hf_ose.export import ExportError, check_parity, export, get_export_backend
from hf_ose.export.parity import parity_kind
from .testing_utils import slow

pytest.importorskip("onnxruntime", reason="pip install 'hf-ose[onnx]'")

TINY = dict(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64)
INPUTS = ["input_ids", "attention_mask", "token_type_ids"]
WORDS = [["@paulwalk", "It", "'s", "the", "view", "from", "Empire", "State", "Building", "."],
         ["Pretty", "bad", "storm", "here", "last", "evening"], ["ok"],
         ["From", "Green", "Newsfeed", ":", "AHFA", "extends", "deadline", "for", "Sage", "Award"]]
SENTENCES = ["A quiet, moving film.", "It was dreadful and far too long for what it had to say, honestly.", "fine",
             "The cast is superb; the script is not.", "Two hours I will never get back.", "Flat and dull."]
WNUT = Path(__file__).resolve().parents[2] / "shared" / "data" / "wnut17"


def _saved(model: torch.nn.Module, folder: Path, tokenizer_dir: Path) -> Path:
    model.save_pretrained(folder)
    AutoTokenizer.from_pretrained(tokenizer_dir).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def tagger_dir(tmp_path_factory, minilm_path) -> Path:
    torch.manual_seed(0)
    model = BertForTokenClassification(BertConfig(**TINY, num_labels=5, initializer_range=0.2))
    return _saved(model, tmp_path_factory.mktemp("tagger"), minilm_path)


@pytest.fixture(scope="module")
def regressor_dir(tmp_path_factory, minilm_path) -> Path:
    torch.manual_seed(0)
    model = BertForSequenceClassification(BertConfig(**TINY, num_labels=1, initializer_range=0.2))
    return _saved(model, tmp_path_factory.mktemp("regressor"), minilm_path)


def _pytorch_session(model: torch.nn.Module, change=None):
    """``model`` called like an artifact; ``change(inputs, output)`` edits its numpy output in place."""
    def run(inputs: dict[str, np.ndarray]) -> np.ndarray:
        with torch.no_grad():
            output = model(**{name: torch.from_numpy(value) for name, value in inputs.items()})[0].numpy().copy()
        if change is not None:
            change(inputs, output)
        return output

    return run


def test_a_token_classifier_exports_per_token_logits_under_optimums_names(tagger_dir, tmp_path):
    fp32 = export(tagger_dir, tmp_path, backend="onnx", calibration=WORDS)
    int8 = export(tagger_dir, tmp_path, backend="onnx", precision="int8", calibration=WORDS)
    assert fp32.head == "token-classification" and fp32.parity.kind == "token-classification"
    assert [p.name for p in fp32.files + int8.files] == ["model.onnx", "model_quantized.onnx"]
    assert fp32.parity.agreement == 1.0 and fp32.parity.max_abs_diff <= 1e-4 and int8.parity.passed
    tokenizer = AutoTokenizer.from_pretrained(tmp_path)
    special = tokenizer(WORDS, is_split_into_words=True, return_special_tokens_mask=True)["special_tokens_mask"]
    assert fp32.parity.tokens == 2 * sum(mask.count(0) for mask in special)  # real tokens, both padding sides
    import onnxruntime

    session = onnxruntime.InferenceSession(str(tmp_path / "model.onnx"), providers=["CPUExecutionProvider"])
    for texts in (WORDS[:2], WORDS):  # batch and sequence axes are dynamic
        batch = tokenizer(texts, is_split_into_words=True, padding=True, return_tensors="np")
        logits = session.run(None, {name: batch[name] for name in INPUTS})[0]
        assert logits.shape == (*batch["input_ids"].shape, 5)
    record = json.loads((tmp_path / "export_report.json").read_text())["artifacts"]
    assert record["onnx-int8"]["task"] == "token-classification"
    assert record["onnx-int8"]["texts"] == {"given": 4, "seed": 0, "calibration": None, "parity": 4,
                                            "parity_held_out": 0}


def test_the_cli_reads_words_from_json_lines_or_splits_sentences(tagger_dir, tmp_path, capsys):
    lines = tmp_path / "ner.jsonl"
    lines.write_text("".join(json.dumps({"tokens": words, "ner_tags": ["O"] * len(words)}) + "\n" for words in WORDS))
    assert main(["export", str(tagger_dir), "--runtime", "onnxruntime", "--texts", str(lines), "--text-column",
                 "tokens", "--out", str(tmp_path / "words")]) == 0
    printed = capsys.readouterr().out
    assert "(token-classification)" in printed and "parity on 4 texts" in printed and "tag agreement 100.00%" in printed
    sentences = tmp_path / "sentences.txt"
    sentences.write_text("\n".join(" ".join(words) for words in WORDS) + "\n")
    assert main(["export", str(tagger_dir), "--runtime", "onnxruntime", "--texts", str(sentences),
                 "--out", str(tmp_path / "split")]) == 0
    same_tokens = [json.loads((tmp_path / name / "export_report.json").read_text())["artifacts"]["onnx-fp32"]
                   ["parity"]["tokens"] for name in ("words", "split")]
    assert same_tokens[0] == same_tokens[1]  # a sentence is its whitespace-split words
    assert main(["export", str(tagger_dir), "--runtime", "onnxruntime", "--texts", str(lines), "--out",
                 str(tmp_path / "x")]) == 2
    assert "has no column 'sentence'; its columns are ['ner_tags', 'tokens']" in capsys.readouterr().err


def test_tag_agreement_counts_real_tokens_only(tagger_dir, minilm_path):
    """Special tokens and padding are not compared; a flipped real token is."""
    model = BertForTokenClassification.from_pretrained(tagger_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(minilm_path)
    special = set(tokenizer.all_special_ids)

    flipped_tokens = []

    def flip_where(choose):
        def change(inputs, output):
            where = choose(inputs)
            flipped_tokens.append(int(where.sum()))
            output[where] = -output[where]  # the arg max moves (5 random logits are never all equal)
        return change

    is_special = flip_where(lambda inputs: np.isin(inputs["input_ids"], list(special)))
    kept = check_parity(model, tokenizer, _pytorch_session(model, is_special), precision="int8", input_names=INPUTS,
                        texts=WORDS, kind="token-classification")
    assert kept.agreement == 1.0 and kept.passed and sum(flipped_tokens) > 0
    flipped_tokens.clear()
    second = flip_where(lambda inputs: (np.arange(inputs["input_ids"].shape[1]) == 1)[None, :]
                        & ~np.isin(inputs["input_ids"], list(special)))  # the first word, where it is there
    flipped = check_parity(model, tokenizer, _pytorch_session(model, second), precision="int8", input_names=INPUTS,
                           texts=WORDS, kind="token-classification")
    assert sum(flipped_tokens) >= len(WORDS)  # every right-padded text, and the longest left-padded one
    assert flipped.agreement == pytest.approx(1 - sum(flipped_tokens) / flipped.tokens)
    assert any(line.startswith("tag agreement") for line in flipped.failures)


def test_label_flips_where_pytorch_nearly_ties_are_reported_not_gated(minilm_path, sst2_dir):
    """A tenth of the median margin is the cut-off: flipping every label under it keeps the artifact however many
    flip; flipping labels above it refuses it."""
    torch.manual_seed(0)
    model = BertForSequenceClassification(BertConfig(**TINY, num_labels=2, initializer_range=0.2)).eval()
    tokenizer = AutoTokenizer.from_pretrained(minilm_path)
    texts = load_texts(sst2_dir / "validation.tsv")[:96]
    honest = check_parity(model, tokenizer, _pytorch_session(model), precision="int8", input_names=INPUTS,
                          texts=texts, kind="classification")
    assert honest.agreement == 1.0 and honest.near_ties > 0  # no flip, but near-ties all the same

    def swap_labels_with_margin(low: float, high: float):
        def change(inputs, output):
            margin = np.abs(output[:, 1] - output[:, 0])
            where = (margin >= low) & (margin < high)
            output[where] = output[where][:, ::-1]
        return change

    def check(low, high):
        return check_parity(model, tokenizer, _pytorch_session(model, swap_labels_with_margin(low, high)),
                            precision="int8", input_names=INPUTS, texts=texts, kind="classification")

    margins = np.concatenate([np.abs(np.diff(_pytorch_session(model)(
        {name: np.asarray(value, dtype=np.int64) for name, value in tokenizer(
            texts, padding=True, padding_side=side, return_tensors="np").items() if name in INPUTS}), axis=-1))[:, 0]
        for side in ("right", "left")])
    cut_off = 0.1 * np.median(margins)
    ties = check(0.0, 0.9 * cut_off)
    assert ties.agreement < 0.98 and ties.decisive_agreement == 1.0 and ties.passed
    assert "without the" in ties.summary()
    decisive = check(1.5 * cut_off, 5 * cut_off)
    assert decisive.decisive_agreement < 0.98 and not decisive.passed
    assert decisive.failures[0].startswith("prediction agreement") and "near-ties" in decisive.failures[0]


def test_a_regression_model_is_checked_by_score_correlation_and_difference(regressor_dir, tmp_path):
    report = export(regressor_dir, tmp_path, backend="onnx", precision="int8", calibration=SENTENCES)
    assert report.head == "text-classification" and report.parity.kind == "regression"
    assert report.parity.agreement is None and report.parity.correlation > 0.95 and report.parity.passed
    model = BertForSequenceClassification.from_pretrained(regressor_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(regressor_dir)

    def check(change, precision="int8"):
        return check_parity(model, tokenizer, _pytorch_session(model, change), precision=precision,
                            input_names=INPUTS, texts=SENTENCES, kind="regression")

    def shifted(inputs, output):
        output += 3.0

    def shuffled(inputs, output):
        output[:] = output[::-1]

    def constant(inputs, output):
        output[:] = 0.5

    offset = check(shifted, "fp32")  # perfectly correlated, but off by 3: fp32 must match to rounding
    assert offset.correlation == pytest.approx(1.0) and offset.failures == [
        "max abs output difference 3 > 0.0001 (by 3)"]
    assert check(shifted).passed and check(shifted).max_abs_diff == pytest.approx(3.0)  # int8 reports it
    assert check(shuffled).correlation < 0.95 and not check(shuffled).passed
    assert "the scores do not vary over the 6 texts" in " ".join(check(constant).failures)


def test_regression_is_one_output_or_the_problem_type(minilm_path):
    assert parity_kind(BertForSequenceClassification(BertConfig(**TINY, num_labels=1)), "text-classification") == \
        "regression"
    assert parity_kind(BertForSequenceClassification(BertConfig(**TINY, num_labels=2)), "text-classification") == \
        "classification"
    assert parity_kind(BertForSequenceClassification(BertConfig(**TINY, num_labels=2, problem_type="regression")),
                       "text-classification") == "regression"
    assert parity_kind(BertForTokenClassification(BertConfig(**TINY, num_labels=1)), "token-classification") == \
        "token-classification"


def test_pairs_are_refused_for_a_token_classifier(tagger_dir, tmp_path):
    with pytest.raises(ExportError, match="neither a sentence nor a list of words"):
        export(tagger_dir, tmp_path, backend="onnx", calibration=[("a", "b"), 3])


@slow
def test_a_token_classifier_and_a_regression_model_export_to_openvino_int8(tagger_dir, regressor_dir, tmp_path):
    pytest.importorskip("openvino", reason="pip install 'hf-ose[openvino]'")
    tagger = export(tagger_dir, tmp_path / "tagger", backend="openvino", precision="int8", calibration=WORDS * 4)
    assert tagger.parity.kind == "token-classification" and tagger.parity.passed and tagger.calibrated
    assert [p.name for p in tagger.files] == ["openvino_model_qint8_quantized.xml", "openvino_model_qint8_quantized.bin"]
    regressor = export(regressor_dir, tmp_path / "regressor", backend="openvino", precision="int8",
                       calibration=SENTENCES * 4)
    assert regressor.parity.kind == "regression" and regressor.parity.passed
    logits = get_export_backend("openvino").session(tmp_path / "tagger", "int8")(
        {name: np.ones((2, 7), dtype=np.int64) for name in INPUTS})
    assert logits.shape == (2, 7, 5)


def _fit_tagging_head(model: torch.nn.Module, tokenizer, rows: list[dict], labels: list[str]) -> None:
    """The head fitted on the frozen encoder's features of ``rows`` (sub-words take their word's tag)."""
    batch = tokenizer([row["tokens"] for row in rows], is_split_into_words=True, padding=True, truncation=True,
                      max_length=128, return_tensors="pt")
    with torch.no_grad():
        hidden = model.base_model(**batch).last_hidden_state
    where = [(i, j, labels.index(row["ner_tags"][word])) for i, row in enumerate(rows)
             for j, word in enumerate(batch.word_ids(i)) if word is not None]
    features = torch.stack([hidden[i, j] for i, j, _ in where])
    targets = torch.tensor([label for _, _, label in where])
    optimizer = torch.optim.Adam(model.classifier.parameters(), lr=1e-2)
    for _ in range(200):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model.classifier(features), targets).backward()
        optimizer.step()


@slow
@pytest.mark.parametrize("backend", ["onnx", "openvino"])
def test_the_real_parent_as_a_wnut17_tagger_keeps_its_tags_in_int8(backend, minilm_path, tmp_path):
    if not WNUT.is_dir():
        pytest.skip(f"WNUT-17 is not at {WNUT} (../shared/data/wnut17)")
    pytest.importorskip({"onnx": "onnxruntime", "openvino": "openvino"}[backend])
    train = read_rows(WNUT / "train.jsonl")
    labels = sorted({tag for row in train for tag in row["ner_tags"]})
    tokenizer = AutoTokenizer.from_pretrained(minilm_path)
    torch.manual_seed(0)
    model = AutoModelForTokenClassification.from_pretrained(minilm_path, num_labels=len(labels)).eval()
    _fit_tagging_head(model, tokenizer, train[:300], labels)
    model.save_pretrained(tmp_path / "tagger")
    tokenizer.save_pretrained(tmp_path / "tagger")
    validation = [row["tokens"] for row in read_rows(WNUT / "validation.jsonl")]
    report = export(tmp_path / "tagger", tmp_path / "out", backend=backend, precision="int8", calibration=validation,
                    calibration_size=100, parity_size=100)
    # Measured on 3,360 tokens: ONNX 97.62% (99.01% without the 130 near-ties), OpenVINO 98.72% (99.78%): the
    # default gate keeps both, although ONNX flips over 2% of all tags.
    print(f"{backend} int8 on WNUT-17: {report.parity.summary()}")
    assert report.parity.texts == 100 and report.parity.tokens > 2000 and report.samples.held_out == 100
    assert report.parity.agreement >= 0.95 and report.parity.decisive_agreement >= 0.98 and report.parity.near_ties
