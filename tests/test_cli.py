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
    (["--error", "task"], "--error task needs labelled data: --task TASK (a name or folder), or --train-file"),
    (["--error", "task", "--task", "sst2", "--train-file", "a.tsv", "--validation-file", "b.tsv"], "not both"),
    (["--error", "distill", "--texts", "x.txt", "--repeats", "2"], "use it with --error task"),
])
def test_surrogates_without_their_data_are_refused(tmp_path, capsys, minilm_path, arguments, message):
    assert main(["extract", str(minilm_path), "--out", str(tmp_path), *arguments]) == 2
    assert message in capsys.readouterr().err


def test_a_preset_has_no_weights_to_inherit(tmp_path, capsys):
    assert main(["inherit", "bert-base-uncased", "--config", str(tmp_path), "--out", str(tmp_path / "s")]) == 2
    assert "a config without weights" in capsys.readouterr().err


def test_task_surrogate_options_reach_the_surrogate_from_files_or_a_task_folder(minilm_path, sst2_dir, capsys):
    from hf_ose.commands import build_parser
    from hf_ose.commands.extract import _check_error_options, _error_objective
    from hf_ose.parent import load_parent_model

    parent = load_parent_model(str(minilm_path))
    files = ["--train-file", str(sst2_dir / "train.tsv"), "--validation-file", str(sst2_dir / "validation.tsv")]
    fingerprints = []
    for data in (files, ["--task", str(sst2_dir)]):
        args = build_parser().parse_args(["extract", str(minilm_path), "--error", "task", *data, "--steps", "7",
                                          "--seeds", "3"])
        _check_error_options(args)
        fingerprints.append(_error_objective(args, parent).fingerprint())
    assert fingerprints[0]["steps"] == 7 and fingerprints[0]["repeats"] == 3
    assert fingerprints[0]["train"] == fingerprints[1]["train"] and fingerprints[0]["dev"] == fingerprints[1]["dev"]
    old = build_parser().parse_args(["extract", str(minilm_path), "--error", "task", "--task",
                                     str(sst2_dir / "train.tsv"), str(sst2_dir / "validation.tsv"), "--repeats", "3"])
    _check_error_options(old)  # the deprecated TRAIN DEV pair and --repeats read as the new options
    assert (old.train_file, old.validation_file, old.task, old.seeds) == (files[1], files[3], None, 3)
    assert capsys.readouterr().err.count("is deprecated: use ") == 2


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
    (["--error", "distill", "--task", "sst2"], "--task is for --error task"),
    (["--error", "distill", "--train-file", "a.tsv"], "--train-file is for --error task"),
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


def _subcommands():
    from hf_ose.commands import build_parser

    return next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)).choices


@pytest.mark.parametrize("old, new", [
    (["export", "m", "--backend", "onnx", "--int8", "--calibration", "t.txt", "--out", "o"],
     ["export", "m", "--runtime", "onnxruntime-int8", "--texts", "t.txt", "--out", "o"]),
    (["export", "m", "--backend", "openvino", "--int8", "--out", "o"],
     ["export", "m", "--runtime", "openvino", "--precision", "int8", "--out", "o"]),
    (["extract", "p", "--error", "task", "--task", "sst2", "--repeats", "3"],
     ["extract", "p", "--error", "task", "--task", "sst2", "--seeds", "3"]),
    (["finetune", "m", "--task", "sst2", "--out", "o", "--lr", "1e-4", "--rounds", "2", "--agora"],
     ["finetune", "m", "--task", "sst2", "--out", "o", "--learning-rate", "1e-4", "--max-rounds", "2", "--agora"]),
], ids=["export-onnx", "export-openvino", "extract", "finetune"])
def test_old_spellings_still_work_with_one_warning_line_each_naming_the_new_option(capsys, old, new):
    from hf_ose.commands import build_parser
    from hf_ose.commands.export import _backend_and_precision

    old_args, new_args = build_parser().parse_args(old), build_parser().parse_args(new)
    warnings = capsys.readouterr().err.splitlines()
    renamed = [word for word in old if word.startswith("--") and word not in new]
    assert len(warnings) == len(renamed) and all(w.startswith("hf-ose: warning: --") for w in warnings)
    for option, warning in zip(renamed, warnings):
        assert warning.startswith(f"hf-ose: warning: {option} is deprecated: use --") and "0.2.0" in warning
    if old[0] == "export":
        assert _backend_and_precision(old_args) == _backend_and_precision(new_args)
    else:
        assert {k: v for k, v in vars(old_args).items()} == vars(new_args)


@pytest.mark.parametrize("argv, expected", [
    (["--runtime", "onnxruntime"], ("onnx", "fp32")), (["--runtime", "openvino-int8"], ("openvino", "int8")),
    (["--runtime", "onnxruntime-int8", "--precision", "int8-static"], ("onnx", "int8-static")),
    (["--runtime", "onnxruntime", "--precision", "int8-static"], ("onnx", "int8-static")),
    (["--runtime", "my-backend", "--precision", "int8"], ("my-backend", "int8")),  # a plugin's export backend
    (["--backend", "onnx", "--precision", "int8-static"], ("onnx", "int8-static")),
    (["--runtime", "openvino-int8", "--precision", "fp32"], "--runtime openvino-int8 is int8, --precision fp32 is not"),
    ([], "Name the runtime the artifact is for once"),
    (["--runtime", "onnxruntime", "--backend", "onnx"], "Name the runtime the artifact is for once"),
    (["--backend", "onnx", "--int8", "--precision", "fp32"], "--int8 and --precision both set the precision"),
])
def test_export_reads_the_artifact_from_the_runtime_name(argv, expected):
    from hf_ose.commands import build_parser
    from hf_ose.commands.export import _backend_and_precision
    from hf_ose.export.backend import ExportError

    args = build_parser().parse_args(["export", "m", "--out", "o", *argv])
    if isinstance(expected, tuple):
        assert _backend_and_precision(args) == expected
    else:
        with pytest.raises(ExportError, match=re.escape(expected)):
            _backend_and_precision(args)


def test_the_vocabulary_table_in_the_docs_lists_every_option_and_every_old_spelling():
    """docs/cli.md has one row per option: its spelling, meaning, the commands that take it and the deprecated
    spellings it replaces; every option of every subcommand, and every old spelling still accepted, is there."""
    from pathlib import Path

    from hf_ose.renamed_options import RenamedOption

    page = (Path(__file__).resolve().parents[1] / "docs" / "cli.md").read_text(encoding="utf-8")
    rows = [[cell.strip() for cell in line.split("|")[1:-1]] for line in page.splitlines() if line.startswith("| `--")]
    assert rows and all(len(row) == 4 for row in rows)
    missing = []
    for name, command in _subcommands().items():
        for action in command._actions:
            column = 3 if isinstance(action, RenamedOption) else 0
            for option in set(action.option_strings) - {"-h", "--help"}:
                if not any(re.search(rf"`{option}[` ]", row[column]) and name in row[2] for row in rows):
                    missing.append(f"{name} {option}")
    assert not missing, f"docs/cli.md's vocabulary table lacks: {missing}"


def test_noise_is_silenced_around_a_command_and_shown_with_verbose(minilm_path, monkeypatch):
    """transformers' LOAD REPORT (a classifier head loaded onto the real parent) is hidden unless --verbose, and
    the filters are gone once the command returns."""
    import logging

    from transformers import BertForSequenceClassification
    from transformers.utils import logging as hf_logging

    import hf_ose.commands

    class Kept(logging.Handler):
        def __init__(self):
            super().__init__()
            self.messages = []

        def emit(self, record):
            self.messages.append(record.getMessage())

    def reports():
        shown = sum("LOAD REPORT" in message for message in kept.messages)
        kept.messages.clear()
        return shown

    def load(args):
        BertForSequenceClassification.from_pretrained(minilm_path)
        return 0

    monkeypatch.setattr(hf_ose.commands._COMMANDS["card"], "run", load)
    kept, logger, verbosity = Kept(), logging.getLogger("transformers.modeling_utils"), hf_logging.get_verbosity()
    hf_logging.set_verbosity_warning()  # the tests run at TRANSFORMERS_VERBOSITY=error
    logger.addHandler(kept)
    try:
        assert main(["card", "x"]) == 0 and reports() == 0
        assert main(["card", "x", "--verbose"]) == 0 and reports() == 1
        BertForSequenceClassification.from_pretrained(minilm_path)
        assert reports() == 1  # outside a command: untouched
    finally:
        logger.removeHandler(kept)
        hf_logging.set_verbosity(verbosity)


def test_the_onnx_runtime_hint_is_dropped_and_other_root_messages_pass(caplog):
    import logging

    from hf_ose.third_party_logs import third_party_noise_silenced

    with caplog.at_level(logging.WARNING), third_party_noise_silenced():
        logging.warning("Please consider to run pre-processing before quantization. Refer to example: ...")
        logging.warning("a warning that matters")
    assert [record.getMessage() for record in caplog.records] == ["a warning that matters"]


def test_the_front_picture_has_readable_log_ticks_tells_measured_from_predicted_and_draws_the_budget():
    import dataclasses
    from pathlib import Path

    import matplotlib.pyplot as plt

    from hf_ose import Budget
    from hf_ose.front import front_figure

    saved = ParetoFront.from_json(Path(__file__).parent / "data" / "front-hf-ose-0.1.0.json")
    points = [saved.points[0], dataclasses.replace(saved.points[1], latency_source="predicted")]
    figure = front_figure(points, saved.reference, best=points[1], chosen=points[1],
                          budget=Budget(max_params=40e6, min_speedup=2, max_latency_ms=20))
    try:
        figure.canvas.draw()
        axes = figure.axes[0]
        x_ticks = {t.get_text() for t in axes.get_xticklabels() if axes.get_xlim()[0] <= t.get_position()[0]
                   <= axes.get_xlim()[1]}
        y_ticks = {t.get_text() for t in axes.get_yticklabels() if axes.get_ylim()[0] <= t.get_position()[1]
                   <= axes.get_ylim()[1]}
        legend = [t.get_text() for t in axes.get_legend().get_texts()]
    finally:
        plt.close(figure)
    assert {"5M", "10M", "20M", "50M", "100M"} <= x_ticks and {"1", "2", "5", "10", "20"} <= y_ticks
    assert "latency measured (1)" in legend and "latency predicted (1)" in legend
    assert {"max_params=40M", "max_latency_ms=20", "min_speedup=2 (parent / 2)"} <= set(legend)
