"""The command line's shape: ``hf_ose.commands`` holds one thin module per subcommand (options and ``run`` only,
the work in the library) and parses without heavy imports; ``hf_ose.cli`` is a deprecated alias."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

import hf_ose.commands

COMMANDS = Path(hf_ose.commands.__file__).parent
#: The public functions each module of ``hf_ose.commands`` may define; any other is library code in disguise.
ENTRY_POINTS = {"__init__": {"main", "build_parser"}, "__main__": set(),
                "options": {"parameter_count", "existing_folder", "runtime_name", "add_budget_options", "budget_from",
                            "data_source", "interrupted", "add_renamed", "add_text_options", "add_shared_options"}}
SUBCOMMAND = {"add_parser", "run"}


@pytest.mark.parametrize("path", sorted(COMMANDS.glob("*.py")), ids=lambda p: p.name)
def test_command_modules_define_no_classes_and_only_entry_points(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    classes = [node.name for node in tree.body if isinstance(node, ast.ClassDef)]
    public = {node.name for node in tree.body
              if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and not node.name.startswith("_")}
    assert not classes, f"{path.name} defines classes {classes}: move them to the library"
    assert public == ENTRY_POINTS.get(path.stem, SUBCOMMAND), f"{path.name}: move library functions out"


def test_every_subcommand_module_is_registered():
    from hf_ose.commands import _COMMANDS

    modules = {p.stem for p in COMMANDS.glob("*.py")} - set(ENTRY_POINTS)
    assert {module.__name__.rsplit(".", 1)[1] for module in _COMMANDS.values()} == modules


def test_parsing_imports_no_heavy_library_code():
    probe = ("import sys, hf_ose.commands as c; c.build_parser().parse_args(['extract', 'x']); "
             "print(sorted(m for m in sys.modules if m.startswith(('hf_ose.surrogates', 'hf_ose.compression.pipeline', "
             "'hf_ose.agora.finetuning', 'hf_ose.agora.trainer', 'datasets', 'peft'))))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


HEAVY = ("torch", "transformers", "datasets", "onnxruntime", "openvino", "matplotlib")


@pytest.mark.parametrize("argv", [["--help"], ["extract", "--help"], ["compress", "--help"], ["export", "--help"],
                                  ["extract", "roberta-large", "--max-params", "20M", "--error", "task", "--task", "sst2"],
                                  ["export", "m", "--runtime", "openvino-int8", "--out", "o"], ["card", "m"],
                                  ["finetune", "m", "--task", "sst2", "--out", "o", "--seeds", "2"]],
                         ids=lambda argv: " ".join(argv))
def test_help_and_parsing_import_no_torch_or_transformers(argv):
    """`hf-ose --help` and `hf-ose SUB --help` stay fast (well under a second) because nothing heavy loads before
    a subcommand runs: `import hf_ose` is lazy, and command modules import the library inside `run`."""
    probe = (f"import sys, hf_ose, hf_ose.commands as c\ntry: c.build_parser().parse_args({argv!r})\n"
             f"except SystemExit: pass\nprint(sorted(m for m in {HEAVY!r} if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip().splitlines()[-1] == "[]", done.stdout[-2000:]


def test_the_lazy_package_serves_every_public_name_and_export_stays_the_function():
    import hf_ose

    probe = ("import hf_ose.export.core, hf_ose, inspect; from hf_ose import export; "
             "print(inspect.isfunction(export), inspect.isfunction(hf_ose.export), hf_ose.export.__module__)")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["True", "True", "hf_ose.export.core"]  # the subpackage imported first
    missing = [name for name in hf_ose.__all__ if getattr(hf_ose, name, None) is None]
    assert not missing and "ParetoFront" in dir(hf_ose) and "write_folder_card" in hf_ose.__all__


def test_the_runtime_and_precision_names_in_help_are_the_registered_ones():
    from hf_ose.commands import build_parser
    from hf_ose.commands.options import RUNTIMES
    from hf_ose.compression.settings import PRECISIONS
    from hf_ose.latency.settings import RUNTIME_SPECS

    assert RUNTIMES == ("pytorch", *RUNTIME_SPECS)
    commands = next(a for a in build_parser()._actions if a.dest == "command").choices
    compress = {action.dest: action for action in commands["compress"]._actions}
    assert set(compress["precision"].choices) == set(PRECISIONS)
    assert tuple(compress["runtime"].choices) == tuple(RUNTIME_SPECS)


def test_compress_help_states_the_default_budget():
    from hf_ose.commands import build_parser
    from hf_ose.compression.settings import DEFAULT_MIN_SPEEDUP

    commands = next(a for a in build_parser()._actions if a.dest == "command").choices
    assert f"--min-speedup {DEFAULT_MIN_SPEEDUP:g})" in commands["compress"].format_help()


def test_the_old_cli_module_still_works_and_warns():
    sys.modules.pop("hf_ose.cli", None)
    with pytest.warns(DeprecationWarning, match="hf_ose.commands"):
        cli = importlib.import_module("hf_ose.cli")
    from hf_ose.front import format_front

    assert (cli.main, cli.build_parser, cli.format_front) == (hf_ose.commands.main, hf_ose.commands.build_parser,
                                                              format_front)
    assert sorted(cli.__all__) == ["build_parser", "format_front", "main"]


@pytest.mark.parametrize("argv, kept", [
    (["extract", "bert-base-uncased", "--out", "OUT"], "scores measured so far are kept in OUT/cache; run the same "
                                                       "command again to resume."),
    (["extract", "gpt2", "--cache-dir", "C"], "kept in C;"),
    (["compress", "p", "--task", "sst2", "--out", "OUT"], "finished stages are kept in OUT; run the same command "
                                                          "again to resume."),
    (["push", "DIR", "me/model"], "the local folder is untouched"),
    (["bench", "DIR"], "nothing was written"),
], ids=lambda value: value[0] if isinstance(value, list) else None)
def test_ctrl_c_is_one_line_saying_what_was_kept_and_exit_130(monkeypatch, capsys, argv, kept):
    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(hf_ose.commands._COMMANDS[argv[0]], "run", interrupted)
    assert hf_ose.commands.main(argv) == 130
    err = capsys.readouterr().err
    assert err.startswith("hf-ose: interrupted: ") and kept in err
    assert err.count("\n") == 1 and "Traceback" not in err
