"""The library's shape: no two parts import each other in a circle, the core never imports the integrations,
and no module grows past 800 lines."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import hf_ose

PACKAGE = Path(hf_ose.__file__).parent
MAX_LINES = 800


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _part(module: str) -> str:
    """The library part a dotted module name belongs to: ``hf_ose.surrogates.task`` -> ``surrogates``."""
    return module.split(".")[1] if module.count(".") >= 1 else ""


def _imports(path: Path) -> set[str]:
    """Every hf_ose module ``path`` imports (at any depth: module level, in functions, under TYPE_CHECKING)."""
    relative = path.relative_to(PACKAGE.parent).with_suffix("")
    package = list(relative.parts[:-1])  # the package a relative import starts from, for modules and __init__ alike
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("hf_ose."))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            if module == "hf_ose" or module.startswith("hf_ose."):
                found.add(module)
                found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def _part_graph() -> dict[str, set[str]]:
    """Edges between the library's parts (top-level modules and subpackages), the package root left out."""
    known = {p.stem if p.parent == PACKAGE else p.relative_to(PACKAGE).parts[0] for p in _modules()}
    graph: dict[str, set[str]] = {}
    for path in _modules():
        if path == PACKAGE / "__init__.py":
            continue
        source = path.stem if path.parent == PACKAGE else path.relative_to(PACKAGE).parts[0]
        targets = {_part(m) for m in _imports(path)} & known
        graph.setdefault(source, set()).update(targets - {source})
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return stack[stack.index(target):] + [target]
            if target not in state and (found := visit(target)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_cycle_finder_finds_a_circle_and_accepts_a_tree():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_the_import_walker_sees_relative_imports():
    graph = _part_graph()
    assert "inheritance" in graph["surrogates"]  # surrogates inherit students' weights
    assert "exceptions" in graph["adapters"]


def test_no_two_parts_of_the_library_import_each_other_in_a_circle():
    cycle = _cycle(_part_graph())
    assert cycle is None, f"import circle between library parts: {' -> '.join(cycle)}"


def test_the_core_never_imports_the_integrations():
    offenders = [
        str(path.relative_to(PACKAGE)) for path in _modules()
        if any(m.startswith("hf_ose.integrations") for m in _imports(path))
    ]
    assert not offenders, f"core modules import hf_ose.integrations: {offenders}"


def test_no_module_is_longer_than_800_lines():
    lines = {str(path.relative_to(PACKAGE)): len(path.read_text(encoding="utf-8").splitlines()) for path in _modules()}
    too_long = {name: count for name, count in lines.items() if count > MAX_LINES}
    assert not too_long, f"modules over {MAX_LINES} lines (split them by job): {too_long}"


def test_the_public_api_is_at_the_top_level():
    from hf_ose import (  # noqa: F401  (the names the project documents)
        DistillationLoss, DistillationSurrogate, DistillationTrainer, HfOseError, InProcessExecutor,
        LocalProcessExecutor, TaskSurrogate, extract_model, load_texts,
    )

    missing = [name for name in hf_ose.__all__ if getattr(hf_ose, name, None) is None]
    assert not missing, f"hf_ose.__all__ names what hf_ose does not have: {missing}"
    for package in ("search", "objectives"):
        module = __import__(f"hf_ose.{package}", fromlist=["__all__"])
        assert module.__all__ and all(hasattr(module, name) for name in module.__all__)


def test_no_benchmark_imports_another_benchmark():
    benchmarks = PACKAGE.parent / "benchmarks"
    scripts = {path.stem for path in benchmarks.glob("*.py") if not path.stem.startswith("_")}
    offenders = []
    for path in benchmarks.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            offenders += [f"{path.name} imports {name}" for name in names if name.split(".")[0] in scripts]
    assert not offenders, f"benchmarks import each other (share code through a _helper module): {offenders}"


def test_the_old_exceptions_module_still_resolves_with_a_deprecation_warning():
    import hf_ose.errors
    from hf_ose.exceptions import HfOseError

    with pytest.warns(DeprecationWarning, match="hf_ose.errors.HfOseError has moved to hf_ose.exceptions"):
        assert hf_ose.errors.HfOseError is HfOseError
