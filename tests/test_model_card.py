"""Model cards built from real objects: a real search record (tests/data/front-hf-ose-0.1.0.json), a tiny saved
classifier, and the real MiniLM parent's config."""

from __future__ import annotations

from pathlib import Path

import pytest
from huggingface_hub import ModelCard
from transformers import AutoConfig, BertConfig, BertForSequenceClassification

from hf_ose import ParetoFront
from hf_ose.architecture import Architecture
from hf_ose.publish import CardError, CardInputs, LatencyRow, LatencySetup, ModelSize, Score, write_card
from hf_ose.publish.card import public

FRONT = Path(__file__).parent / "data" / "front-hf-ose-0.1.0.json"
TOKEN = "hf_" + "SecretLookingToken123" * 2


@pytest.fixture(scope="module")
def student_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("student")
    config = BertConfig(vocab_size=1000, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, num_labels=2)
    BertForSequenceClassification(config).save_pretrained(folder)
    return folder


@pytest.fixture
def inputs(student_dir, minilm_path) -> CardInputs:
    front = ParetoFront.from_json(FRONT)
    return CardInputs(
        name="minilm-sst2-ose", base_model="sentence-transformers/all-MiniLM-L6-v2",
        student=ModelSize.of(AutoConfig.from_pretrained(student_dir)),
        parent=ModelSize.of(AutoConfig.from_pretrained(minilm_path)), license="apache-2.0",
        dataset="stanfordnlp/sst2", scores=[Score("accuracy", 0.801, parent=0.853, teacher=0.861)],
        latency=[LatencyRow("pytorch", "fp32", 4.25, 12.5), LatencyRow("onnxruntime", "int8", 1.6, 12.5)],
        latency_setup=LatencySetup("Intel(R) Xeon(R) Platinum, 2 cores, avx512f", 1, 128, threads=2),
        front=front, chosen=front.choose(max_params=5e6), teacher="my-user/minilm-sst2-teacher",
        distillation="300 steps of logits KL and token relations at temperature 2.", agora_rounds=3,
    )


def test_model_size_counts_the_real_parent(minilm_path):
    size = ModelSize.of(AutoConfig.from_pretrained(minilm_path))
    assert size.architecture == Architecture(6, 12, 384, 1536)
    assert size.params == 22_713_216
    assert size.params - size.effective_params == (30522 + 512 + 2) * 384  # word, position and type embeddings


def test_the_card_metadata_carries_the_base_model_tags_and_measured_test_results(inputs, tmp_path):
    card = ModelCard.load(write_card(inputs, tmp_path))
    data = card.data.to_dict()
    assert data["base_model"] == "sentence-transformers/all-MiniLM-L6-v2" and data["license"] == "apache-2.0"
    assert data["library_name"] == "transformers" and data["pipeline_tag"] == "text-classification"
    assert data["tags"] == ["hf-ose", "bort", "ose"] and data["datasets"] == ["stanfordnlp/sst2"]
    (result,) = card.data.eval_results
    assert (result.dataset_type, result.dataset_split, result.metric_type, result.metric_value) == (
        "stanfordnlp/sst2", "test", "accuracy", 0.801)


def test_the_card_body_states_size_latency_scores_front_and_how_it_was_made(inputs, tmp_path):
    text = write_card(inputs, tmp_path).read_text()
    assert "| this model | 2 | 2 | 32 | 64 |" in text and "| parent | 6 | 12 | 384 | 1536 | 22.7M | 10.8M |" in text
    assert "Intel(R) Xeon(R) Platinum, 2 cores, avx512f, batch size 1, sequence length 128" in text
    assert "### pytorch" in text and "| fp32 | 4.25 | 12.50 | 2.9x |" in text
    assert "### onnxruntime" in text and "| int8 | 1.60 | 12.50 | 7.8x |" in text
    assert "| accuracy | test | 0.8010 | 0.8530 | 0.8610 |" in text
    assert "only the\ntest score is an unbiased estimate" in text
    assert "![The Pareto front" in text and (tmp_path / "front.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    published = [line for line in text.splitlines() if "**published**" in line]
    assert published == ["| 2 | 2 | 128 | 256 | 4.3M | 0.95 | 34.5x | 4.422 | 0.211 | **published** |"]
    assert "epsilon 0.5" in text and "data-free prior" in text and "2 error evaluations against a bound of 4" in text
    assert "Distillation from the teacher my-user/minilm-sst2-teacher: 300 steps" in text
    assert "Agora: 3 AgoraTrainer rounds" in text
    assert "https://arxiv.org/abs/2010.10499" in text  # URLs are not mistaken for local paths


def test_absent_stages_are_said_absent_not_invented(inputs, tmp_path):
    bare = CardInputs(name="bare", base_model=inputs.base_model, student=inputs.student, parent=inputs.parent)
    text = write_card(bare, tmp_path).read_text()
    assert "Latency was not measured" in text and "No test scores were measured" in text
    assert "No search front was given" in text and "search settings are not stated" in text
    assert "Distillation: none was run." in text and "no AgoraTrainer rounds were run" in text
    assert "parent's licence applies" in text and "unbiased" not in text
    assert not (tmp_path / "front.png").exists()
    assert "model-index" not in text and "license" not in ModelCard.load(tmp_path / "README.md").data.to_dict()


def test_notes_join_how_the_model_was_made(inputs, tmp_path):
    noted = CardInputs(name="noted", base_model=inputs.base_model, student=inputs.student, parent=inputs.parent,
                       notes=["No int8 artifact ships: none passed its parity check with the PyTorch student."])
    text = write_card(noted, tmp_path).read_text()
    made = text[text.index("## How it was made"):]
    assert "No int8 artifact ships: none passed its parity check with the PyTorch student." in made


def test_no_local_path_and_no_token_reach_the_card(inputs, tmp_path, minilm_path, sst2_dir, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    teacher = tmp_path / "runs" / "teacher"
    teacher.mkdir(parents=True)
    local = CardInputs(
        **{**inputs.__dict__, "base_model": str(minilm_path), "dataset": str(sst2_dir), "teacher": str(teacher),
           "distillation": f"300 steps on {sst2_dir}/train.tsv, checkpoints in {tmp_path}/ckpt (token {TOKEN})",
           "latency_setup": LatencySetup(f"a CPU (profile in {Path.home()}/profile.txt)", 1, 128)})
    out = tmp_path / "card"
    text = write_card(local, out).read_text()
    for secret in (TOKEN, str(minilm_path), str(sst2_dir), str(tmp_path), str(Path.home()) + "/"):
        assert secret not in text
    assert "train.tsv" in text and "a local copy of `model`" in text
    data = ModelCard.load(out / "README.md").data.to_dict()
    assert "base_model" not in data and "datasets" not in data  # local folders are no Hub ids
    assert data["model-index"][0]["results"][0]["dataset"]["name"] == "sst2"


def test_public_cuts_paths_and_redacts_tokens(monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "abcdefgh12345678")
    assert public("saved to /tmp/run-1/student/ with abcdefgh12345678") == "saved to student with [redacted]"
    assert public("see https://huggingface.co/docs and ~/cache/x.json") == "see https://huggingface.co/docs and x.json"
    assert public("4/8 heads, D4/H256") == "4/8 heads, D4/H256"


def test_inconsistent_inputs_are_refused(inputs):
    with pytest.raises(CardError, match="latency_setup"):
        CardInputs(**{**inputs.__dict__, "latency_setup": None})
    other = ParetoFront.from_json(FRONT)
    with pytest.raises(CardError, match="chosen must be a point of front"):
        CardInputs(**{**inputs.__dict__, "front": None, "chosen": other.points[0]})


PARENT_ID = "sentence-transformers/all-MiniLM-L6-v2"  # served offline by the packaged copy (resolve_model_source)


def _compress_report() -> dict:
    """compress_report.json as `hf-ose compress` writes it, with the fields a card reads."""
    summary = {"task": "sst2", "cpu": "Intel Xeon, 2 cores", "threads": 2, "batch_size": 1, "seq_len": 128,
               "parent_ms": 19.5, "student_ms": 8.8, "runtime": "openvino-int8",
               "artifact_ms": {"onnxruntime-int8": 4.1, "openvino-int8": 3.6},
               "student_accuracy": 0.8486, "teacher_accuracy": 0.8498,
               "artifact_accuracy": {"onnxruntime-int8": 0.8475, "openvino-int8": 0.8452}}
    return {"summary": summary, "stages": {"finetune": {"rounds": 2}}}


def _saved_config(folder: Path, architecture: str, **sizes) -> Path:
    """``folder`` holding a 2-layer, 4-head BERT config of ``architecture`` and ``sizes`` (no weights)."""
    config = BertConfig(num_hidden_layers=2, num_attention_heads=4, **sizes)
    config.architectures = [architecture]
    folder.mkdir()
    config.save_pretrained(folder)
    return folder


@pytest.fixture
def model_folder(tmp_path) -> Path:
    """A saved classifier shaped like the front's second point (D=2 A=4 H=256 I=256) with its reports."""
    import json
    import shutil

    folder = _saved_config(tmp_path / "model", "BertForSequenceClassification", hidden_size=256,
                           intermediate_size=256, num_labels=2)
    (folder / "compress_report.json").write_text(json.dumps(_compress_report()))
    shutil.copy(FRONT, folder / "front.json")
    return folder


def test_a_folder_card_states_what_the_folder_holds_and_refreshes_from_its_own_metadata(model_folder):
    from hf_ose.commands import main

    assert main(["card", str(model_folder), "--base-model", PARENT_ID, "--license", "apache-2.0"]) == 0
    card = ModelCard.load(model_folder / "README.md")
    assert card.data.base_model == PARENT_ID and card.data.license == "apache-2.0" and card.data.datasets == ["sst2"]
    assert card.data.pipeline_tag == "text-classification"
    assert "| this model | 2 | 4 | 256 | 256 |" in card.text and "0.8486" in card.text and "3.60" in card.text
    assert "accuracy (openvino-int8 artifact)" in card.text and "2 AgoraTrainer rounds" in card.text
    assert "**published**" in card.text and (model_folder / "front.png").stat().st_size > 0
    (model_folder / "compress_report.json").unlink()  # refreshed without options: the card's own metadata
    assert main(["card", str(model_folder)]) == 0
    refreshed = ModelCard.load(model_folder / "README.md")
    assert (refreshed.data.base_model, refreshed.data.license, refreshed.data.datasets) == (PARENT_ID, "apache-2.0",
                                                                                           ["sst2"])
    assert "0.8486" not in refreshed.text and "no AgoraTrainer rounds" in refreshed.text


def test_a_folder_card_of_a_tagger_states_its_entity_f1_and_fp32_fallback(tmp_path):
    import json

    from hf_ose.commands import main

    folder = _saved_config(tmp_path / "tagger", "BertForTokenClassification", hidden_size=64, intermediate_size=128,
                           num_labels=13)
    summary = {"task": "wnut17", "kind": "token-classification", "metric": "f1", "cpu": "AMD EPYC, 2 cores",
               "threads": 2, "batch_size": 1, "seq_len": 128, "parent_ms": 40.0, "student_ms": 15.0,
               "runtime": "onnxruntime", "artifact_ms": {"onnxruntime": 9.0}, "student_score": 0.41,
               "teacher_score": 0.43, "artifact_score": {"onnxruntime": 0.41}}
    (folder / "compress_report.json").write_text(json.dumps({"summary": summary, "stages": {}}))
    assert main(["card", str(folder), "--base-model", PARENT_ID]) == 0
    card = ModelCard.load(folder / "README.md")
    assert card.data.pipeline_tag == "token-classification"
    assert "f1 (onnxruntime artifact)" in card.text and "0.4100" in card.text
    assert "### onnxruntime" in card.text and "| fp32 | 9.00 | 40.00 | 4.4x |" in card.text  # not called int8


def test_a_card_hf_ose_did_not_write_is_kept(model_folder, capsys):
    from hf_ose.commands import main

    (model_folder / "README.md").write_text("# My own notes\n")
    assert main(["card", str(model_folder), "--base-model", PARENT_ID]) == 2
    err = capsys.readouterr().err
    assert "was not written by hf-ose" in err and "--overwrite" in err and err.count("\n") == 1
    assert (model_folder / "README.md").read_text() == "# My own notes\n"
    assert main(["card", str(model_folder), "--base-model", PARENT_ID, "--overwrite"]) == 0
    assert (model_folder / "README.md.bak").read_text() == "# My own notes\n"
    assert "hf-ose" in ModelCard.load(model_folder / "README.md").data.tags


@pytest.mark.parametrize("arguments, message", [
    ([], "pass --base-model PARENT"),
    (["--base-model", "/no/such/parent"], "Cannot read the parent"),
    (["--base-model", PARENT_ID, "--front", "/no/front.json"], "--front /no/front.json: no such file"),
])
def test_a_folder_card_without_what_it_needs_is_one_line(model_folder, capsys, arguments, message):
    from hf_ose.commands import main

    assert main(["card", str(model_folder), *arguments]) == 2
    err = capsys.readouterr().err
    assert err.startswith("hf-ose: error: ") and message in err and err.count("\n") == 1
    assert not (model_folder / "README.md").exists()


def test_a_folder_without_a_config_is_refused(tmp_path, capsys):
    from hf_ose.commands import main

    assert main(["card", str(tmp_path)]) == 2
    assert "has no config.json: pass a model folder" in capsys.readouterr().err
