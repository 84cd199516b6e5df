"""The architecture space: a grid of candidate values per parameter, and the valid variants it spans."""

from __future__ import annotations

import itertools
import json
import logging
import warnings
from collections import Counter
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Mapping, Union

from transformers import PretrainedConfig

from .adapters import FamilyAdapter, get_adapter
from .architecture import Architecture
from .exceptions import EmptySpaceError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Grid:
    """Candidate values per architectural parameter.

    ``heads=None`` keeps the parent's head size (heads follow the hidden size); ``kv_heads=None`` keeps the
    parent's query heads per key/value head (only read for grouped-query families); ``head_dim=None`` keeps
    the parent's free head size (only read for families where it is free).
    """

    depth: tuple[int, ...]
    hidden: tuple[int, ...]
    intermediate: tuple[int, ...]
    heads: tuple[int, ...] | None = None
    kv_heads: tuple[int, ...] | None = None
    head_dim: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        for f in fields(self):
            values = getattr(self, f.name)
            if values is None:
                continue
            if not values:
                raise EmptySpaceError(f"The grid lists no value for {f.name!r}: give at least one, or leave it out.")
            bad = [v for v in values if not isinstance(v, int) or isinstance(v, bool) or v < 1]
            if bad:
                raise ValueError(f"Grid values must be positive integers; {f.name!r} has {bad}.")
            object.__setattr__(self, f.name, tuple(sorted(set(values))))

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> "Grid":
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"Unknown grid parameter(s) {sorted(unknown)}; known: {sorted(known)}.")
        missing = {"depth", "hidden", "intermediate"} - set(values)
        if missing:
            raise ValueError(f"The grid needs values for {sorted(missing)}.")
        return cls(**{k: None if v is None else tuple(v) for k, v in values.items()})

    @classmethod
    def from_file(cls, path: str | Path) -> "Grid":
        """Read a grid from a JSON file such as ``{"depth": [2, 4], "hidden": [512], "intermediate": [768]}``."""
        try:
            values = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as error:
            raise ValueError(f"Cannot read the grid file {path}: {error}") from error
        if not isinstance(values, dict):
            raise ValueError(f"The grid file {path} must hold a JSON object of parameter -> list of values.")
        return cls.from_dict(values)

    def to_dict(self) -> dict[str, list[int] | None]:
        return {f.name: None if getattr(self, f.name) is None else list(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def derived_from(cls, parent: Architecture) -> "Grid":
        """The default grid: every depth up to the parent's, and eighths of its widths in multiples of 64.

        Heads follow the hidden size at the parent's head size; grouped-query and free-head-size families keep
        the parent's ratios.
        """
        return cls(
            depth=tuple(range(1, parent.depth + 1)),
            hidden=_eighths(parent.hidden),
            intermediate=_eighths(parent.intermediate),
        )


#: Bort's search space (the Bort paper, via the FPTAS paper's notes): 300 valid candidates over RoBERTa-large.
BORT_GRID = Grid(
    depth=(2, 4, 6, 8, 10, 12),
    heads=(4, 8, 12, 16),
    hidden=(512, 768, 1024),
    intermediate=(256, 512, 768, 1024, 3072),
)

GridSpec = Union[Grid, Mapping[str, Any], str, Path, None]


def _eighths(width: int) -> tuple[int, ...]:
    """k/8 of ``width`` for k = 1..8, rounded to multiples of 64 (of 8 for widths under 256)."""
    unit = 64 if width >= 256 else 8
    return tuple(sorted({max(unit, round(width * k / 8 / unit) * unit) for k in range(1, 9)} | {width}))


def resolve_grid(spec: GridSpec, parent: Architecture) -> Grid:
    """A :class:`Grid` from ``None``/``"auto"`` (derived from the parent), ``"bort"``, a dict or a JSON file."""
    if spec is None or spec == "auto":
        return Grid.derived_from(parent)
    if isinstance(spec, Grid):
        return spec
    if isinstance(spec, Mapping):
        return Grid.from_dict(spec)
    if spec == "bort":
        return BORT_GRID
    if Path(spec).is_file():
        return Grid.from_file(spec)
    raise ValueError(f"Unknown space {spec!r}: use 'auto', 'bort', a dict of parameter -> values, or a JSON file.")


class ArchitectureSpace:
    """The valid architectures a grid spans for one parent, with counts of what was dropped and why."""

    def __init__(self, parent: PretrainedConfig, grid: GridSpec = None) -> None:
        self.parent = parent
        self.adapter: FamilyAdapter = get_adapter(parent)
        self.parent_architecture = self.adapter.read(parent)
        self.grid = resolve_grid(grid, self.parent_architecture)
        self.dropped: Counter[str] = Counter()
        self.candidates: list[Architecture] = self._enumerate()
        self.larger_than_parent = self._values_larger_than_parent()
        if self.dropped:
            logger.info("Dropped %d invalid grid point(s): %s", sum(self.dropped.values()), dict(self.dropped))
        for name, values in self.larger_than_parent.items():
            warnings.warn(
                f"Grid values {name}={values} exceed the parent's {name}={getattr(self.parent_architecture, name)}: "
                "weights cannot be inherited for those candidates. Drop them from the grid to extract from the parent.",
                stacklevel=2,
            )
        if not self.candidates:
            raise EmptySpaceError(
                f"The grid {self.grid.to_dict()} has no valid point for {self.parent_architecture}: "
                f"dropped {dict(self.dropped)}. Choose hidden sizes divisible by the head counts "
                "(and head counts divisible by the key/value head counts)."
            )

    def __len__(self) -> int:
        return len(self.candidates)

    def config(self, arch: Architecture) -> PretrainedConfig:
        """The variant's config: the parent's class, only architectural fields changed."""
        return self.adapter.write(self.parent, arch)

    def _enumerate(self) -> list[Architecture]:
        parent, grid = self.parent_architecture, self.grid
        candidates = []
        for depth, hidden, intermediate in itertools.product(grid.depth, grid.hidden, grid.intermediate):
            for heads in self._heads_for(hidden):
                for kv_heads in self._kv_heads_for(heads):
                    for head_dim in grid.head_dim or [parent.head_dim]:
                        arch = Architecture(depth, heads, hidden, intermediate, kv_heads, head_dim)
                        reason = self._invalid_reason(arch)
                        if reason:
                            self.dropped[reason] += 1
                        else:
                            candidates.append(arch)
        return sorted(set(candidates))

    def _heads_for(self, hidden: int) -> list[int]:
        if self.grid.heads is not None:
            return list(self.grid.heads)
        parent = self.parent_architecture
        head_size = parent.head_dim or parent.hidden // parent.heads
        return [max(1, hidden // head_size)]

    def _kv_heads_for(self, heads: int) -> list[int | None]:
        parent = self.parent_architecture
        if parent.kv_heads is None:
            return [None]
        if self.grid.kv_heads is not None:
            return list(self.grid.kv_heads)
        group = parent.heads // parent.kv_heads
        if heads % group:
            self.dropped["heads not a multiple of the parent's query heads per kv head"] += 1
            return []
        return [heads // group]

    @staticmethod
    def _invalid_reason(arch: Architecture) -> str | None:
        if arch.head_dim is None and arch.hidden % arch.heads:
            return "hidden not divisible by heads"
        if arch.kv_heads is not None and (arch.kv_heads > arch.heads or arch.heads % arch.kv_heads):
            return "heads not divisible by kv_heads"
        return None

    def _values_larger_than_parent(self) -> dict[str, list[int]]:
        larger = {}
        for name in ("depth", "hidden", "intermediate", "heads", "kv_heads", "head_dim"):
            limit = getattr(self.parent_architecture, name)
            values = getattr(self.grid, name)
            if limit is not None and values is not None and any(v > limit for v in values):
                larger[name] = [v for v in values if v > limit]
        return larger
