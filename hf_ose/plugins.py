"""Registries of named entries: the one mechanism behind everything hf-ose selects by name.

Latency runtimes and export backends (plugin instances), model families (adapters keyed by ``model_type``),
Agora samplers (classes, built with options when used) and search strategies (functions) each live in a
:class:`Registry`. Entries are registered from code, shipped by the core as ``"module:attribute"`` strings, or
offered by installed packages through a Python entry-point group; the last two load on first use, so the core
never imports an integration.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from types import MappingProxyType
from typing import Any, Generic, TypeVar

E = TypeVar("E")
P = TypeVar("P")


@dataclass(kw_only=True)
class Registry(Generic[E]):
    """Entries of one ``kind`` (e.g. "sampler") found by name.

    ``error``: raised for an unknown name or a refused registration; ``register_call``: the public function
    that registers one, named in those errors; ``group``: the entry-point group installed packages offer
    entries through (``None``: none); ``builtin``: name -> ``"module:attribute"`` shipped by the core, loaded on
    first use; ``known_external``: name -> (what it is, how to install it), for a helpful error when missing;
    ``base``: when set, entries are subclasses of it (classes, built by the caller when used).
    """

    kind: str
    error: type[Exception]
    register_call: str
    group: str | None = None
    builtin: Mapping[str, str] = field(default_factory=dict)
    known_external: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    base: type | None = None
    plugins: dict[str, E] = field(default_factory=dict)

    def register(self, entry: Any, name: str | None = None, *, overwrite: bool = False) -> E:
        """Make ``entry`` selectable under ``name`` (default: its ``name`` attribute) and return it.

        A name taken by another entry is refused unless ``overwrite=True``; registering the same entry again
        under its name does nothing.
        """
        accepted = self._accept(entry)
        name = self._name_of(accepted) if name is None else name
        current = self.plugins.get(name)
        if current is not None and current is not accepted and not overwrite:
            raise self.error(f"A {self.kind} named {name!r} is already registered ({_label(current)}); pass "
                             "overwrite=True to replace it, or register yours under another name.")
        self.plugins[name] = accepted
        return accepted

    def unregister(self, name: str) -> E:
        """Remove the entry registered as ``name`` and return it (built-ins and entry points load again on use)."""
        if name not in self.plugins:
            raise self.error(f"No {self.kind} named {name!r} is registered; registered: {sorted(self.plugins)}.")
        return self.plugins.pop(name)

    def names(self) -> list[str]:
        """Every name that can be selected: registered, built in, or offered by an installed entry point."""
        return sorted(set(self.plugins) | set(self.builtin) | set(self._entry_points()))

    def __contains__(self, name: object) -> bool:
        return name in self.plugins or name in self.builtin or name in self._entry_points()

    def view(self) -> Mapping[str, E]:
        """A read-only, live mapping of the entries registered so far (built-ins and entry points once loaded)."""
        return MappingProxyType(self.plugins)

    def check_name(self, name: str) -> None:
        """Raise ``error`` naming the fix unless ``name`` can be selected."""
        if name not in self:
            raise self.error(self._missing_message(name))

    def get(self, name: str) -> E:
        """The entry called ``name``, loaded on first use."""
        if name not in self.plugins:
            self._load(name)
        return self.plugins[name]

    # ---- hooks and helpers ---------------------------------------------------------------------------------
    def _accept(self, entry: Any) -> E:
        """``entry`` as stored; with ``base`` set it must be a subclass of it."""
        if self.base is not None and not (isinstance(entry, type) and issubclass(entry, self.base)):
            raise self.error(f"{self.register_call} takes a {self.base.__name__} subclass, got {entry!r}.")
        return entry

    def _name_of(self, entry: Any) -> str:
        name = getattr(entry, "name", None)
        if not isinstance(name, str) or not name:
            raise self.error(f"The {self.kind} {entry!r} has no string `name`; give it one, or pass name=... to "
                             f"{self.register_call}.")
        return name

    def _load(self, name: str) -> None:
        entry_point = self._entry_points().get(name)
        if name not in self.builtin and entry_point is None:
            raise self.error(self._missing_message(name))
        try:
            if name in self.builtin:
                module, _, attribute = self.builtin[name].partition(":")
                loaded = getattr(importlib.import_module(module), attribute)
            else:
                loaded = entry_point.load()  # type: ignore[union-attr]
        except ImportError as error:
            raise self.error(f"{self._missing_message(name)} ({error})") from error
        self.register(loaded, name)

    def _entry_points(self) -> dict[str, metadata.EntryPoint]:
        if self.group is None:
            return {}
        return {point.name: point for point in metadata.entry_points(group=self.group)}

    def _missing_message(self, name: str) -> str:
        choices = self.names()
        if name in self.known_external:
            label, install = self.known_external[name]
            return (f"The {self.kind} {name!r} ({label}) is not installed. Install it with {install}, "
                    f"or choose one of {choices}.")
        group = f" (or the {self.group!r} entry-point group)" if self.group else ""
        return f"Unknown {self.kind} {name!r}; choose one of {choices}, or register one with {self.register_call}{group}."


@dataclass(kw_only=True)
class PluginRegistry(Registry[P]):
    """Plugin instances of ``base`` (e.g. latency runtimes), each with a ``name``, an ``install_hint`` and
    ``available()``; a class is built without arguments when registered, and :meth:`get` refuses a plugin
    whose packages are missing."""

    base: type
    group: str

    def get(self, name: str) -> P:
        """The plugin called ``name``, loaded on first use; its packages must be installed."""
        plugin = super().get(name)
        if not plugin.available():  # type: ignore[attr-defined]
            hint = getattr(plugin, "install_hint", "") or self.known_external.get(name, ("", "install its packages"))[1]
            raise self.error(f"The {self.kind} {name!r} is registered but its packages are missing: {hint}.")
        return plugin

    def _accept(self, entry: Any) -> P:
        instance = entry() if isinstance(entry, type) else entry
        if not isinstance(instance, self.base):
            raise TypeError(f"A {self.kind} must subclass {self.base.__name__}; got {type(instance).__name__}.")
        return instance

    def _name_of(self, entry: Any) -> str:
        name = getattr(entry, "name", None)
        if not isinstance(name, str) or not name:
            raise ValueError(f"{type(entry).__name__} needs a non-empty class attribute `name`.")
        return name


def deprecated_view(module: str, old: str, registry: Registry[Any], instead: str) -> Callable[[str], Any]:
    """A module ``__getattr__`` that serves ``old`` (a name kept for one release) as ``registry.view()``, with a
    :class:`DeprecationWarning` pointing to ``instead``."""

    def __getattr__(name: str) -> Any:
        if name != old:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        warnings.warn(f"{module}.{old} is deprecated and will be removed in the next release: use {instead}.",
                      DeprecationWarning, stacklevel=2)
        return registry.view()

    return __getattr__


def _label(entry: object) -> str:
    """How an error names a registered entry: its class or function name, else its own ``name``."""
    return getattr(entry, "__qualname__", None) or str(getattr(entry, "name", None) or type(entry).__name__)
