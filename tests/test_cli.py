import argparse
import json
import re

import pytest
from transformers import AutoConfig

from hf_ose import Architecture, ParetoFront
from hf_ose.commands import main
from .testing_utils import slow


@slow
def test_extract_writes_the_front_and_says_errors_are_prior_estimates(tmp_path, capsys):
    grid = tmp_path / "grid.json"
    grid.write_text(json.dumps({"depth": [1, 2, 3], "hidden": [256, 512], "intermediate": [512, 1024]}))
    out = tmp_path / "out"
    code = main(["extract", "bert-base-uncased", "--space", str(grid), "--epsilon", "0.5", "--seq-len", "16",
                 "--latency-samples", "4", "--out", str(out), "--quiet", "--on-noise", "warn"])
    printed = capsys.readouterr().out
    assert code == 0
    assert "PRIOR ESTIMATES" in printed and "* W-best:" in printed and "AB^nC" in printed and "CPU:" in printed
    front = json.loads((out / "front.json").read_text())
    assert len(front["points"]) >= 1 and front["record"]["settings"]["epsilon"] == 0.5
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


@pytest.mark.parametrize("config_class", ["ViTConfig", "CLIPVisionConfig"])
def test_a_vision_parent_is_refused_in_one_line_as_not_a_text_model(tmp_path, capsys, config_class):
    import transformers

    getattr(transformers, config_class)().save_pretrained(tmp_path / "parent")
    assert main(["extract", str(tmp_path / "parent"), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"hf-ose: error: A {config_class} ") and err.count("\n") == 1
    assert "not a text model" in err and "Pass a text model" in err


def test_a_cache_dir_that_is_a_file_is_one_line(tmp_path, capsys):
    (tmp_path / "a-file").write_text("")
    assert main(["extract", "bert-base-uncased", "--cache-dir", str(tmp_path / "a-file"), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("hf-ose: error: Cannot use ") and "--cache-dir DIR" in err and err.count("\n") == 1


def test_unreachable_hub_id_exits_with_advice(tmp_path, capsys):
    assert main(["extract", "someone/private-model", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "Could not load 'someone/private-model'" in err and "local folder" in err and "roberta-large" in err


@slow
def test_extract_with_the_distillation_surrogate_on_the_real_parent(tmp_path, capsys, minilm_path, sst2_dir):
    grid = tmp_path / "grid.json"
    grid.write_text(json.dumps({"depth": [1, 3], "hidden": [192, 384], "intermediate": [768]}))
    out = tmp_path / "out"
    code = main(["extract", str(minilm_path), "--space", str(grid), "--error", "distill", "--texts",
                 str(sst2_dir / "train.tsv"), "--steps", "2", "--seq-len", "16", "--latency-samples", "3",
                 "--out", str(out), "--quiet", "--on-noise", "warn"])
    printed = capsys.readouterr().out
    assert code == 0 and "PRIOR ESTIMATES" not in printed
    points = json.loads((out / "front.json").read_text())["points"]
    assert points and all(p["error_source"] == "measured: distillation surrogate (2 steps)" for p in points)


def test_inherit_saves_a_student_that_stock_transformers_loads(tmp_path, capsys, minilm_path):
    from transformers import AutoModel, AutoModelForSequenceClassification, AutoTokenizer, BertForSequenceClassification

    from hf_ose import Architecture, get_adapter

    parent_config = AutoConfig.from_pretrained(minilm_path)
    variant = get_adapter(parent_config).write(parent_config, Architecture(2, 6, 192, 768))
    variant.save_pretrained(tmp_path / "variant")
    assert main(["inherit", str(minilm_path), "--config", str(tmp_path / "variant"), "--out", str(tmp_path / "student")]) == 0
    printed = capsys.readouterr().out
    assert "Saved a BertModel (D=2 A=6 H=192 I=768" in printed and "sentence-transformers pipeline" in printed
    assert f"load it with AutoModel.from_pretrained('{tmp_path / 'student'}') or SentenceTransformer(" in printed
    student = AutoModel.from_pretrained(tmp_path / "student")
    assert student.config.hidden_size == 192 and (tmp_path / "student" / "tokenizer.json").exists()
    assert (tmp_path / "student" / "modules.json").exists()
    # a second run into the same folder is refused before any work, and the student is kept
    assert main(["inherit", str(minilm_path), "--config", str(tmp_path / "variant"), "--out", str(tmp_path / "student")]) == 2
    assert "not an empty folder" in capsys.readouterr().err and (tmp_path / "student" / "model.safetensors").exists()

    labels = {0: "negative", 1: "positive"}
    classifier = BertForSequenceClassification.from_pretrained(
        minilm_path, num_labels=2, id2label=labels, label2id={v: k for k, v in labels.items()},
        problem_type="single_label_classification",
    )
    classifier.save_pretrained(tmp_path / "classifier")
    AutoTokenizer.from_pretrained(minilm_path).save_pretrained(tmp_path / "classifier")
    get_adapter(classifier.config).write(classifier.config, Architecture(2, 6, 192, 768)).save_pretrained(
        tmp_path / "classifier-variant")  # as `extract` on the classifier writes it
    assert main(["inherit", str(tmp_path / "classifier"), "--config", str(tmp_path / "classifier-variant"),
                 "--out", str(tmp_path / "student-classifier")]) == 0
    printed = capsys.readouterr().out
    assert "Saved a BertForSequenceClassification" in printed and "SentenceTransformer" not in printed
    assert "load it with AutoModelForSequenceClassification.from_pretrained(" in printed
    loaded = AutoModelForSequenceClassification.from_pretrained(tmp_path / "student-classifier")
    assert loaded.config.id2label == labels and loaded.config.problem_type == "single_label_classification"


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
    from hf_ose.commands import build_parser
    from hf_ose.commands.extract import _error_objective
    from hf_ose.parent import load_parent_model

    split = [str(sst2_dir / "train.tsv"), str(sst2_dir / "validation.tsv")]
    args = build_parser().parse_args(["extract", str(minilm_path), "--error", "task", "--task", *split,
                                      "--steps", "7", "--repeats", "3"])
    surrogate = _error_objective(args, load_parent_model(str(minilm_path)))
    assert surrogate.fingerprint()["steps"] == 7 and surrogate.fingerprint()["repeats"] == 3


BERT_DEPTHS = {"depth": [1, 2, 3, 12], "hidden": [768], "intermediate": [3072]}  # the parent (D=12) among them


@pytest.fixture(scope="module")
def depth_grid(tmp_path_factory):
    """A grid file and a search cache shared by the budget tests (the second search reuses the first's work)."""
    folder = tmp_path_factory.mktemp("depth-grid")
    (folder / "grid.json").write_text(json.dumps(BERT_DEPTHS))
    return folder


def _extract_depths(folder, out, *arguments):
    return main(["extract", "bert-base-uncased", "--space", str(folder / "grid.json"), "--seq-len", "8",
                 "--latency-samples", "4", "--cache-dir", str(folder / "cache"), "--out", str(out), "--quiet",
                 "--on-noise", "warn", *arguments])


@slow
def test_extract_prints_the_point_chosen_within_a_budget_beside_the_w_best(depth_grid, tmp_path, capsys):
    assert _extract_depths(depth_grid, tmp_path, "--max-params", "40M") == 0
    printed = capsys.readouterr().out
    assert re.search(r"\* W-best: D=.*\[Bort's W-coefficient\]", printed)
    assert "> Chosen: D=2 A=12 H=768 I=3072  (38.6M parameters" in printed
    assert "[lowest error within max_params=40M]" in printed
    assert re.search(r"> D=2 A=12 H=768 I=3072 +38\.6M", printed)  # marked in the table too
    assert "Error column: data-free prior" in printed and "Parent (T): 109.5M parameters" in printed
    front = ParetoFront.from_json(tmp_path / "front.json")
    assert front.choose(max_params=40e6).architecture == Architecture(2, 12, 768, 3072)
    assert front.reference.error == pytest.approx(min(p.error for p in front))  # the parent is the largest point


def test_a_budget_no_point_meets_is_an_error_naming_the_closest_point(depth_grid, tmp_path, capsys):
    assert _extract_depths(depth_grid, tmp_path, "--max-params", "10M", "--min-speedup", "2") == 2
    err = capsys.readouterr().err
    assert "No point of the front meets min_speedup=2, max_params=10M. The closest is D=1 A=12 H=768 I=3072" in err
    assert "misses max_params by" in err
    assert (tmp_path / "front.json").exists()  # the search's work is kept


@pytest.mark.parametrize("arguments, message", [
    (["--min-speedup", "-1"], "min_speedup must be positive"),
    (["--max-error-increase", "-0.5"], "max_error_increase must be 0 or more"),
    (["--texts", "train.tsv"], "--texts is for --error distill: use it with --error distill, or drop it"),
    (["--error", "distill", "--task", "a", "b"], "--task is for --error task"),
    (["--steps", "5"], "--steps sets surrogate training steps: use it with --error distill or --error task"),
])
def test_ignored_or_malformed_options_are_refused_before_any_work(tmp_path, capsys, arguments, message):
    assert main(["extract", "bert-base-uncased", "--out", str(tmp_path / "out"), *arguments]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_a_parameter_budget_that_is_not_a_count_is_refused(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["extract", "bert-base-uncased", "--max-params", "lots"])
    assert exited.value.code == 2
    assert "'lots' is not a parameter count: write e.g. 20000000, 2e7 or 20M" in capsys.readouterr().err


def test_missing_folders_are_named_as_folders(tmp_path, capsys):
    assert main(["extract", "/no/such/folder", "--out", str(tmp_path)]) == 2
    assert "The folder /no/such/folder does not exist" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exited:
        main(["inherit", "bert-base-uncased", "--config", "missing-folder", "--out", str(tmp_path / "s")])
    assert exited.value.code == 2
    assert "the folder missing-folder does not exist" in capsys.readouterr().err


def test_version_and_help_for_every_option(capsys):
    from hf_ose import __version__
    from hf_ose.commands import build_parser

    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0 and capsys.readouterr().out.strip() == f"hf-ose {__version__}"
    commands = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    for name, command in commands.choices.items():
        undocumented = [a.dest for a in command._actions if a.help is None]
        assert not undocumented, f"{name}: options without help: {undocumented}"


def test_the_table_prints_without_a_held_out_latency_figure_when_none_was_possible():
    from pathlib import Path

    from hf_ose.front import format_front

    front = ParetoFront.from_json(Path(__file__).parent / "data" / "front-hf-ose-0.1.0.json")
    front.record.latency.update(held_out_mean_relative_error=None, held_out_max_relative_error=None)
    table = format_front(front)
    assert "predictor held-out error not available (too few measured points to hold one out" in table
    assert "Error column: data-free prior" in table and "PRIOR ESTIMATES" in table
    assert "Parent (T): 109.5M parameters, 32.8 ms, error unknown" in table


def test_the_table_warns_when_latency_looked_like_noise_or_the_predictor_is_rough():
    from pathlib import Path

    from hf_ose.front import format_front

    front = ParetoFront.from_json(Path(__file__).parent / "data" / "front-hf-ose-0.1.0.json")
    front.record.latency["noise"] = "Latency measurements look like noise: the parent measured 157.0 ms"
    front.record.latency["predictor_warning"] = "The latency predictor's held-out error is 17.0% on average"
    table = format_front(front)
    assert "WARNING: Latency measurements look like noise: the parent measured 157.0 ms" in table
    assert "WARNING: The latency predictor's held-out error is 17.0% on average" in table


def test_a_long_front_prints_as_a_summary_with_the_marked_points_and_every_row_on_request():
    import dataclasses
    from pathlib import Path

    from hf_ose import Architecture
    from hf_ose.front import format_front

    saved = ParetoFront.from_json(Path(__file__).parent / "data" / "front-hf-ose-0.1.0.json")
    points = [dataclasses.replace(saved.points[0], architecture=Architecture(depth, 2, 128, 256))
              for depth in range(1, 13)]
    front = dataclasses.replace(saved, points=points)
    chosen = points[6]

    def shown(table: str) -> list[int]:
        return [point.architecture.depth for point in points if f"{point.architecture} " in table]

    assert shown(format_front(front, chosen)) == list(range(1, 13))
    summary = format_front(front, chosen, rows=4)
    assert shown(summary) == [1, 5, 7, 8, 12]  # 4 spread from the smallest to the largest, and the chosen one
    assert "(5 of 12 points shown; --all prints every row, front.csv lists them all)" in summary
