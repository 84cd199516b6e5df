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
                            "data_source", "interrupted"}}
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
