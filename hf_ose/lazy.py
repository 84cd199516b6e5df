"""Module ``__getattr__`` helpers (PEP 562): names a package loads on first use, so that importing it stays
light, and names that moved, served from their new home with a deprecation warning."""

from __future__ import annotations

import sys
import warnings
from importlib import import_module
from types import ModuleType
from typing import Any, Callable, Collection, Mapping


def lazy_names(package: str, names: Mapping[str, str], namespace: dict[str, Any]
               ) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of ``package`` (whose globals are ``namespace``): each name in ``names``
    loads from the submodule it maps to on first use, and is then kept in ``namespace``."""

    def __getattr__(name: str) -> Any:
        if name in names:
            value = getattr(import_module(f".{names[name]}", package), name)
            namespace[name] = value
            return value
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(names))

    return __getattr__, __dir__


def keep_over_submodules(package: str, names: Collection[str]) -> None:
    """Keep each of ``names``, a lazy name of ``package`` that is also the name of one of its subpackages (the
    function ``hf_ose.export`` and the package ``hf_ose.export``), from being replaced by that subpackage when
    the subpackage is imported first: the import system then skips binding it on ``package``, and the name
    still loads through ``__getattr__``. The subpackage stays importable by its full name."""

    class _Package(ModuleType):
        def __setattr__(self, name: str, value: Any) -> None:
            if name in names and isinstance(value, ModuleType):
                return
            super().__setattr__(name, value)

    sys.modules[package].__class__ = _Package


def moved(old: str, *homes: ModuleType, modules: Mapping[str, str] | None = None) -> Callable[[str], Any]:
    """A module ``__getattr__`` (PEP 562) for the deprecated module ``old``: each name is taken from the first of
    ``homes`` that has it, and each of ``modules`` (old submodule name -> new module path) imported, with a
    :class:`DeprecationWarning` naming the new home."""

    modules = modules or {}

    def __getattr__(name: str) -> Any:
        found = [f"{home.__name__}.{name}" for home in homes
                 if not name.startswith("__") and not isinstance(getattr(home, name, warnings), ModuleType)]
        new = modules.get(name) or (found[0] if found else None)
        if new is None:
            raise AttributeError(f"module {old!r} has no attribute {name!r}")
        warnings.warn(f"{old}.{name} has moved to {new}; the old path goes in the next release.", DeprecationWarning,
                      stacklevel=2)
        module, _, attribute = new.rpartition(".")
        return import_module(new) if name in modules else getattr(import_module(module), attribute)

    return __getattr__
