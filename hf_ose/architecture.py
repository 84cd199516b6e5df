"""The architecture record: the few numbers that define a transformer's shape."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

#: Parameters for which "more of it" (with weights inherited from one parent) never raises the error,
#: by the search's monotonicity assumption. Head counts are deliberately absent: at a fixed hidden size,
#: more heads means narrower heads, which is not "more model".
MONOTONE_PARAMETERS: tuple[str, ...] = ("depth", "hidden", "intermediate")


@dataclass(frozen=True, order=True)
class Architecture:
    """A transformer's architectural parameters, whatever its family calls them.

    ``kv_heads`` is set for families with grouped-query attention, ``head_dim`` only for families whose head
    size is a free parameter (not ``hidden // heads``); both are ``None`` otherwise.
    """

    depth: int
    heads: int
    hidden: int
    intermediate: int
    kv_heads: int | None = None
    head_dim: int | None = None

    def as_dict(self) -> dict[str, int]:
        """The set parameters, for JSON and tables (``None`` entries left out)."""
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "Architecture":
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"Unknown architecture parameter(s) {sorted(unknown)}; known: {sorted(known)}.")
        return cls(**{k: int(v) for k, v in values.items() if v is not None})

    def dominates(self, other: "Architecture") -> bool:
        """True when ``self`` is at least ``other`` on every monotone parameter and equal on the rest.

        This is the order in which the search may assume ``error(self) <= error(other)``.
        """
        for f in fields(self):
            mine, theirs = getattr(self, f.name), getattr(other, f.name)
            if f.name in MONOTONE_PARAMETERS:
                if mine < theirs:
                    return False
            elif mine != theirs:
                return False
        return True

    def __str__(self) -> str:
        extra = "".join(
            f" {label}={value}"
            for label, value in (("KV", self.kv_heads), ("Hd", self.head_dim))
            if value is not None
        )
        return f"D={self.depth} A={self.heads} H={self.hidden} I={self.intermediate}{extra}"
