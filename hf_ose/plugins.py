"""A registry of named plugins (latency runtimes, export backends) that integrations fill through entry points.

Each plugin is an instance of a base class with a ``name``, an ``install_hint`` and ``available()``. Plugins are
registered from code, shipped by the core as ``"module:attribute"`` strings, or offered by installed packages
through a Python entry-point group; the last two load on first use, so the core never imports an integration.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import metadata
from typing import Generic, TypeVar

from .errors import HfOseError

P = TypeVar("P")


@dataclass
class PluginRegistry(Generic[P]):
    """Plugins of one ``kind`` (e.g. "latency runtime"), subclasses of ``base``, found by name.

    ``group``: the entry-point group integrations declare; ``builtin``: name -> ``"module:attribute"`` shipped by
    the core; ``known_external``: name -> (what it is, how to install it), for a helpful error when missing;
    ``error``: the exception raised for an unknown or uninstalled plugin; ``register_call``: the public function
    that registers one, named in that error.
    """

    kind: str
    base: type
    group: str
    error: type[HfOseError]
    register_call: str
    builtin: Mapping[str, str] = field(default_factory=dict)
    known_external: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    plugins: dict[str, P] = field(default_factory=dict)

    def register(self, plugin: P | type[P]) -> P:
        """Make ``plugin`` (an instance, or a class built without arguments) available under its name."""
        instance = plugin() if isinstance(plugin, type) else plugin
        if not isinstance(instance, self.base):
            raise TypeError(f"A {self.kind} must subclass {self.base.__name__}; got {type(instance).__name__}.")
        name = getattr(instance, "name", None)
        if not isinstance(name, str) or not name:
            raise ValueError(f"{type(instance).__name__} needs a non-empty class attribute `name`.")
        self.plugins[name] = instance
        return instance

    def names(self) -> list[str]:
        """Every name that can be selected: registered, built in, or offered by an installed entry point."""
        return sorted(set(self.plugins) | set(self.builtin) | set(self._entry_points()))

    def check_name(self, name: str) -> None:
        """Raise ``error`` naming the fix unless ``name`` can be selected."""
        if name not in self.names():
            raise self.error(self._missing_message(name))

    def get(self, name: str) -> P:
        """The plugin called ``name``, loaded on first use; its packages must be installed."""
        if name not in self.plugins:
            self._load(name)
        plugin = self.plugins[name]
        if not plugin.available():  # type: ignore[attr-defined]
            hint = getattr(plugin, "install_hint", "") or self.known_external.get(name, ("", "install its packages"))[1]
            raise self.error(f"The {self.kind} {name!r} is registered but its packages are missing: {hint}.")
        return plugin

    def _load(self, name: str) -> None:
        entry_point = self._entry_points().get(name)
        if name not in self.builtin and entry_point is None:
            raise self.error(self._missing_message(name))
        try:
            if name in self.builtin:
                module, _, attribute = self.builtin[name].partition(":")
                self.register(getattr(importlib.import_module(module), attribute))
            else:
                self.register(entry_point.load())
        except ImportError as error:
            raise self.error(f"{self._missing_message(name)} ({error})") from error

    def _entry_points(self) -> dict[str, metadata.EntryPoint]:
        return {point.name: point for point in metadata.entry_points(group=self.group)}

    def _missing_message(self, name: str) -> str:
        choices = self.names()
        if name in self.known_external:
            label, install = self.known_external[name]
            return (f"The {self.kind} {name!r} ({label}) is not installed. Install it with {install}, "
                    f"or choose one of {choices}.")
        return (f"Unknown {self.kind} {name!r}; choose one of {choices}, or register one with {self.register_call} "
                f"(or the {self.group!r} entry-point group).")
