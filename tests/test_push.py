"""``push_to_hub`` and ``hf-ose push`` end to end, against the Hub test double in ``tests/hub_server.py``.

``huggingface_hub`` reads ``HF_ENDPOINT`` and ``HF_HUB_DISABLE_XET`` when it is imported, which pytest has long
done, so each scenario runs in a fresh interpreter (this file run as a script): it starts the server, sets the
environment, pushes, pulls back, and prints one JSON line of findings that the tests below check."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

TOKEN = "hf_" + "T0kEnForTheTestDouble" * 2
SENTENCES = ["a gripping, beautifully acted film", "dull and far too long", "it is neither good nor bad"]


# ---- the scenarios, run in a subprocess ----------------------------------------------------------------------
def _start_server(home: Path):
    sys.path.insert(0, str(Path(__file__).parent))
    from hub_server import HubServer

    server = HubServer(token=TOKEN).__enter__()
    os.environ.update(HF_ENDPOINT=server.endpoint, HF_HUB_DISABLE_XET="1", HF_HOME=str(home))
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_TOKEN_PATH"):
        os.environ.pop(name, None)
    import huggingface_hub.utils.logging as hub_logging  # after the environment: debug logs are part of the check
    import logging

    logging.basicConfig(level=logging.DEBUG)
    hub_logging.set_verbosity_debug()
    return server


def _attempt(call) -> str | None:
    """The error a call raised, as ``"Type: message"``, or ``None``."""
    try:
        call()
    except Exception as error:  # noqa: BLE001 - the test reads the type and message
        return f"{type(error).__name__}: {error}"
    return None


def scenario_single(model_dir: str, home: str) -> dict[str, object]:
    server = _start_server(Path(home))
    import torch
    from huggingface_hub import ModelCard
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    import hf_ose
    from hf_ose.commands import main

    found: dict[str, object] = {}
    found["no_token"] = _attempt(lambda: hf_ose.push_to_hub(model_dir, "tester/tiny-ose"))
    found["bad_id"] = _attempt(lambda: hf_ose.push_to_hub(model_dir, "tester/bad id", token=TOKEN))
    found["no_owner"] = _attempt(lambda: hf_ose.push_to_hub(model_dir, "tiny-ose", token=TOKEN))
    found["requests_before_push"] = len(server.log)
    found["cli_bad_id"] = main(["push", model_dir, "a/b/c"])

    os.environ["HF_TOKEN"] = TOKEN  # the usual place
    found["cli"] = main(["push", model_dir, "tester/tiny-ose"])
    found["commits_after_first"] = list(server.commits)
    found["again"] = [result.__dict__ for result in hf_ose.push_to_hub(model_dir, "tester/tiny-ose")]
    found["commits_after_second"] = list(server.commits)
    found["private"] = server.repos["tester/tiny-ose"].private
    found["files"] = sorted(server.repos["tester/tiny-ose"].files("main"))

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    batch = tokenizer(SENTENCES, padding=True, return_tensors="pt")
    local = AutoModelForSequenceClassification.from_pretrained(model_dir).eval()
    remote = AutoModelForSequenceClassification.from_pretrained("tester/tiny-ose").eval()
    with torch.no_grad():
        found["same_logits"] = torch.equal(local(**batch).logits, remote(**batch).logits)
    found["remote_tokenizer_ids"] = AutoTokenizer.from_pretrained("tester/tiny-ose")(SENTENCES)["input_ids"]
    found["local_tokenizer_ids"] = tokenizer(SENTENCES)["input_ids"]
    found["card"] = ModelCard.load("tester/tiny-ose").data.to_dict()
    found["downloaded"] = sorted({path.rsplit("/", 1)[-1] for method, path in server.log
                                  if method == "GET" and "/tiny-ose/resolve/" in path})
    return found


def scenario_front(front_dir: str, home: str) -> dict[str, object]:
    server = _start_server(Path(home))
    import hf_ose
    from huggingface_hub import HfApi

    found: dict[str, object] = {}
    server.fail_from(4)  # point-00: LFS PUT (1), commit (2); point-01: LFS PUT (3), commit (4) fails
    found["failed"] = _attempt(lambda: hf_ose.push_to_hub(front_dir, "tester/front", token=TOKEN,
                                                          branch_per_point=True))
    found["uploads_first"] = list(server.uploads)
    found["commits_first"] = list(server.commits)
    server.fail_from(None)
    results = hf_ose.push_to_hub(front_dir, "tester/front", token=TOKEN, branch_per_point=True)
    found["rerun"] = [result.__dict__ for result in results]
    found["uploads_second"] = server.uploads[len(found["uploads_first"]):]
    found["commits_second"] = server.commits[len(found["commits_first"]):]
    api = HfApi(token=TOKEN)
    found["branches"] = sorted(ref.name for ref in api.list_repo_refs("tester/front").branches)
    found["branch_files"] = {branch: sorted(api.list_repo_files("tester/front", revision=branch))
                             for branch in found["branches"]}
    found["lfs_oids"] = {branch: {entry.path: entry.lfs.sha256 for entry in api.list_repo_tree(
        "tester/front", revision=branch, recursive=True) if getattr(entry, "lfs", None)} for branch in found["branches"]}
    found["per_point"] = [result.__dict__ for result in hf_ose.push_to_hub(front_dir, "tester/front", token=TOKEN)]
    found["repos"] = sorted(server.repos)
    return found


# ---- the tests ---------------------------------------------------------------------------------------------
def _run(scenario: str, folder: Path, home: Path) -> tuple[dict[str, object], str]:
    process = subprocess.run(
        [sys.executable, __file__, scenario, str(folder), str(home)], capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    output = process.stdout + process.stderr
    assert process.returncode == 0, output[-4000:]
    return json.loads(process.stdout.strip().splitlines()[-1]), output


def _save_classifier(folder: Path, minilm_path: Path, seed: int) -> Path:
    """A tiny real BERT classifier with the real MiniLM tokenizer, saved with stock save_pretrained."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    tokenizer = AutoTokenizer.from_pretrained(minilm_path)
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, num_labels=2, id2label={0: "negative", 1: "positive"},
                        label2id={"negative": 0, "positive": 1})
    torch.manual_seed(seed)
    BertForSequenceClassification(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def _digests(folder: Path) -> dict[str, str]:
    return {path.relative_to(folder).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(folder.rglob("*")) if path.is_file()}


@pytest.fixture(scope="module")
def single(tmp_path_factory, minilm_path):
    from hf_ose.publish import CardInputs, ModelSize, Score, write_card
    from transformers import AutoConfig

    folder = _save_classifier(tmp_path_factory.mktemp("tiny-ose"), minilm_path, seed=0)
    write_card(CardInputs(name="tiny-ose", base_model="sentence-transformers/all-MiniLM-L6-v2",
                          student=ModelSize.of(AutoConfig.from_pretrained(folder)),
                          parent=ModelSize.of(AutoConfig.from_pretrained(minilm_path)), license="apache-2.0",
                          dataset="stanfordnlp/sst2", scores=[Score("accuracy", 0.5, 0.8, 0.82)]), folder)
    before = _digests(folder)
    found, output = _run("single", folder, tmp_path_factory.mktemp("hf-home"))
    return found, output, before, _digests(folder)


@pytest.fixture(scope="module")
def front(tmp_path_factory, minilm_path):
    folder = tmp_path_factory.mktemp("front")
    for index in range(2):
        _save_classifier(folder / f"point-0{index}-D2-A2-H32-I64", minilm_path, seed=index)
    (folder / "front.json").write_bytes((Path(__file__).parent / "data" / "front-hf-ose-0.1.0.json").read_bytes())
    before = _digests(folder)
    found, output = _run("front", folder, tmp_path_factory.mktemp("hf-home"))
    return found, output, before, _digests(folder), folder


def test_a_pushed_model_loads_from_the_hub_with_the_same_predictions(single):
    found, _, before, _ = single
    assert found["cli"] == 0 and found["same_logits"] is True
    assert {"config.json", "model.safetensors", "tokenizer.json", "README.md"} <= set(found["downloaded"])
    assert found["remote_tokenizer_ids"] == found["local_tokenizer_ids"]
    assert found["files"] == sorted([".gitattributes", *before])  # model, tokenizer and card in the repo
    assert found["private"] is False


def test_model_tokenizer_and_card_arrive_in_one_commit_and_a_repeat_push_commits_nothing(single):
    found, *_ = single
    assert found["commits_after_first"] == [["tester/tiny-ose", "main"]]
    assert found["commits_after_second"] == found["commits_after_first"]
    (again,) = found["again"]
    assert again["commit_url"] is None and again["uploaded"] == [] and "model.safetensors" in again["unchanged"]


def test_the_card_reads_back_with_its_metadata(single):
    card = single[0]["card"]
    assert card["base_model"] == "sentence-transformers/all-MiniLM-L6-v2" and card["license"] == "apache-2.0"
    assert card["library_name"] == "transformers" and card["pipeline_tag"] == "text-classification"
    assert {"hf-ose", "bort", "ose"} <= set(card["tags"]) and card["datasets"] == ["stanfordnlp/sst2"]
    (result,) = card["model-index"][0]["results"]
    assert result["metrics"] == [{"type": "accuracy", "value": 0.5}] and result["dataset"]["split"] == "test"


def test_no_token_and_a_bad_repo_id_are_refused_before_any_request(single):
    found, output, before, after = single
    assert found["no_token"].startswith("PushError: No Hugging Face token") and "HF_TOKEN" in found["no_token"]
    assert found["bad_id"].startswith("PushError: 'tester/bad id' is not a repository id")
    assert found["no_owner"].startswith("PushError: 'tiny-ose' names no owner")
    assert found["requests_before_push"] == 0 and found["cli_bad_id"] == 2
    assert "hf-ose: error: 'a/b/c' is not a repository id" in output
    assert after == before  # pushing never changes the local folder


def test_the_token_never_appears_in_the_output_or_logs(single, front):
    for output in (single[1], front[1]):
        assert "DEBUG" in output  # debug logging was on, so the check had something to read
        assert TOKEN not in output


def test_a_server_failing_midway_leaves_the_folder_whole_and_a_rerun_finishes_without_resending(front):
    found, _, before, after, _ = front
    assert found["failed"].startswith("PushError: The push failed on the server side")
    assert "run the same push again" in found["failed"]
    assert after == before
    assert found["commits_first"] == [["tester/front", "point-00-D2-A2-H32-I64"]]
    first, second, main = found["rerun"]
    assert first["commit_url"] is None and first["uploaded"] == []  # the finished branch is not committed again
    assert second["commit_url"] is not None and "model.safetensors" in second["uploaded"]
    assert (main["revision"], main["uploaded"]) == ("main", ["front.json"])  # the front's own files
    assert found["commits_second"] == [["tester/front", "point-01-D2-A2-H32-I64"], ["tester/front", "main"]]
    assert len(found["uploads_first"]) == 2  # both weights arrived before the commit failed
    assert found["uploads_second"] == []  # and neither was sent again


def test_branch_per_point_puts_each_point_on_its_own_branch(front):
    found, _, before, _, _ = front
    points = ["point-00-D2-A2-H32-I64", "point-01-D2-A2-H32-I64"]
    assert found["branches"] == ["main", *points]
    assert found["branch_files"]["main"] == [".gitattributes", "front.json"]
    for point in points:
        mine = sorted(name.split("/", 1)[1] for name in before if name.startswith(point + "/"))
        assert found["branch_files"][point] == sorted([".gitattributes", *mine])
        assert found["lfs_oids"][point]["model.safetensors"] == before[f"{point}/model.safetensors"]
    assert found["lfs_oids"]["point-00-D2-A2-H32-I64"] != found["lfs_oids"]["point-01-D2-A2-H32-I64"]


def test_without_branches_a_front_goes_to_one_repository_per_point(front):
    found, *_ = front
    assert found["repos"] == ["tester/front", "tester/front-point-00-D2-A2-H32-I64",
                              "tester/front-point-01-D2-A2-H32-I64"]
    *points, front = found["per_point"]
    assert [(result["repo_id"], result["revision"]) for result in points] == [
        ("tester/front-point-00-D2-A2-H32-I64", "main"), ("tester/front-point-01-D2-A2-H32-I64", "main")]
    assert all(result["commit_url"] and result["unchanged"] == [] for result in points)
    assert (front["repo_id"], front["commit_url"], front["unchanged"]) == ("tester/front", None, ["front.json"])


if __name__ == "__main__":
    scenario, folder, home = sys.argv[1:]
    findings = {"single": scenario_single, "front": scenario_front}[scenario](folder, home)
    print(json.dumps(findings, default=str))


@pytest.mark.parametrize("argv", [["push", "{folder}", "me/tiny-ose"],
                                  ["compress", "{folder}", "--task", "sst2", "--out", "{out}", "--push-to", "me/x"]],
                         ids=lambda argv: argv[0])
def test_offline_mode_is_refused_in_one_line_before_any_request_or_work(monkeypatch, capsys, tmp_path, argv):
    from huggingface_hub import constants
    from transformers import BertConfig

    from hf_ose.commands import main
    from hf_ose.compression import pipeline

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_TOKEN", TOKEN)  # a token: offline mode is the only obstacle
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)  # read when huggingface_hub was imported
    monkeypatch.setattr(pipeline, "compress", lambda *args, **kwargs: pytest.fail("compress ran while offline"))
    BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64).save_pretrained(
        tmp_path / "model")
    assert main([a.format(folder=tmp_path / "model", out=tmp_path / "out") for a in argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("hf-ose: error: HF_HUB_OFFLINE") and "unset" in err and err.count("\n") == 1


def test_folders_without_weights_are_named_in_a_warning_before_the_push(monkeypatch, tmp_path):
    from huggingface_hub import constants
    from transformers import BertConfig

    from hf_ose.publish import PushError, push_to_hub

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)  # the push stops right after the local checks
    config = BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64)
    for point in ("point-01", "point-02"):
        config.save_pretrained(tmp_path / "front" / point)
    (tmp_path / "front" / "point-02" / "model.safetensors").write_bytes(b"weights")
    with pytest.warns(UserWarning, match=r"1 of the folders to push hold a config.json but no weights \(point-01\)"):
        with pytest.raises(PushError, match="HF_HUB_OFFLINE"):
            push_to_hub(tmp_path / "front", "me/front", branch_per_point=True)
