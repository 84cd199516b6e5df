import json
import re

import pytest
from transformers import AutoConfig

from hf_ose.cli import main


def test_extract_writes_the_front_and_says_errors_are_prior_estimates(tmp_path, capsys):
    grid = tmp_path / "grid.json"
    grid.write_text(json.dumps({"depth": [1, 2, 3], "hidden": [256, 512], "intermediate": [512, 1024]}))
    out = tmp_path / "out"
    code = main(["extract", "bert-base-uncased", "--space", str(grid), "--epsilon", "0.5", "--seq-len", "16",
                 "--latency-samples", "4", "--out", str(out), "--quiet"])
    printed = capsys.readouterr().out
    assert code == 0
    assert "PRIOR ESTIMATES" in printed and "* W-best:" in printed and "AB^nC" in printed and "CPU:" in printed
    front = json.loads((out / "front.json").read_text())
    assert len(front["points"]) >= 1 and front["info"]["epsilon"] == 0.5
    assert (out / "front.csv").exists() and (out / "front.png").exists() and (out / "cache" / "scores.jsonl").exists()
    folders = sorted((out / "configs").iterdir())
    assert len(folders) == len(front["points"])
    assert AutoConfig.from_pretrained(folders[0]).model_type == "bert"


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--epsilon", "2"], r"epsilon must be in \(0, 1\]"),
        (["--space", "no-such-grid"], "Unknown space 'no-such-grid'"),
    ],
)
def test_bad_arguments_exit_with_a_clear_message(tmp_path, capsys, arguments, message):
    assert main(["extract", "bert-base-uncased", "--out", str(tmp_path), *arguments]) == 2
    assert re.search(message, capsys.readouterr().err)


def test_unwritable_output_folder_is_reported_before_any_work(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    assert main(["extract", "bert-base-uncased", "--out", str(blocker / "out")]) == 2
    assert "Cannot write to the output folder" in capsys.readouterr().err


def test_unreachable_hub_id_exits_with_advice(tmp_path, capsys):
    assert main(["extract", "someone/private-model", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "Could not load 'someone/private-model'" in err and "local folder" in err and "roberta-large" in err


def test_extract_with_the_distillation_surrogate_on_the_real_parent(tmp_path, capsys, minilm_path, sst2_dir):
    grid = tmp_path / "grid.json"
    grid.write_text(json.dumps({"depth": [1, 3], "hidden": [192, 384], "intermediate": [768]}))
    out = tmp_path / "out"
    code = main(["extract", str(minilm_path), "--space", str(grid), "--error", "distill", "--texts",
                 str(sst2_dir / "train.tsv"), "--steps", "2", "--seq-len", "16", "--latency-samples", "3",
                 "--out", str(out), "--quiet"])
    printed = capsys.readouterr().out
    assert code == 0 and "PRIOR ESTIMATES" not in printed
    points = json.loads((out / "front.json").read_text())["points"]
    assert points and all(p["error_source"] == "measured: distillation surrogate (2 steps)" for p in points)


def test_inherit_saves_a_student_that_stock_transformers_loads(tmp_path, capsys, minilm_path):
    from transformers import AutoModel

    from hf_ose import Architecture, get_adapter

    parent_config = AutoConfig.from_pretrained(minilm_path)
    variant = get_adapter(parent_config).write(parent_config, Architecture(2, 6, 192, 768))
    variant.save_pretrained(tmp_path / "variant")
    assert main(["inherit", str(minilm_path), "--config", str(tmp_path / "variant"), "--out", str(tmp_path / "student")]) == 0
    assert "Saved a BertModel (D=2 A=6 H=192 I=768" in capsys.readouterr().out
    student = AutoModel.from_pretrained(tmp_path / "student")
    assert student.config.hidden_size == 192 and (tmp_path / "student" / "tokenizer.json").exists()


@pytest.mark.parametrize("arguments, message", [
    (["--error", "distill"], "--error distill needs --texts"),
    (["--error", "task"], "--error task needs --task TRAIN DEV"),
    (["--error", "distill", "--texts", "x.txt", "--repeats", "2"], "use it with --error task"),
])
def test_surrogates_without_their_data_are_refused(tmp_path, capsys, minilm_path, arguments, message):
    assert main(["extract", str(minilm_path), "--out", str(tmp_path), *arguments]) == 2
    assert message in capsys.readouterr().err


def test_a_preset_has_no_weights_to_inherit(tmp_path, capsys):
    assert main(["inherit", "bert-base-uncased", "--config", str(tmp_path), "--out", str(tmp_path / "s")]) == 2
    assert "a config without weights" in capsys.readouterr().err


def test_task_surrogate_options_reach_the_surrogate(minilm_path, sst2_dir):
    from hf_ose.cli import _error_objective, build_parser
    from hf_ose.parent import load_parent_model

    split = [str(sst2_dir / "train.tsv"), str(sst2_dir / "validation.tsv")]
    args = build_parser().parse_args(["extract", str(minilm_path), "--error", "task", "--task", *split,
                                      "--steps", "7", "--repeats", "3"])
    surrogate = _error_objective(args, load_parent_model(str(minilm_path)))
    assert surrogate.fingerprint()["steps"] == 7 and surrogate.fingerprint()["repeats"] == 3
