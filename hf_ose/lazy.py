"""Names a package loads on first use (PEP 562), so that importing the package stays light."""

from __future__ import annotations

from importlib import import_module
from typing import Any, Callable, Mapping


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
