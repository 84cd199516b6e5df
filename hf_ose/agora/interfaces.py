"""What Agora's loop works with: points, and what it asks of a sampler and a labeller, its two pluggable parts
(design notes, "Agora").

A point is one example's text: a string for single-sentence tasks, a ``(first, second)`` pair for
sentence-pair tasks. A :class:`Sampler` proposes new points near the development set's mistakes; a
:class:`Labeller` gives each point a probability per class. Both are small strategy objects, in the manner
of Torch-Pruning's importance criteria: the loop never needs to know which one it holds.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, ClassVar, Sequence, Union

from ..exceptions import HfOseError

if TYPE_CHECKING:
    import numpy as np
    from transformers import PreTrainedTokenizerBase

#: One example's text: a sentence, or a sentence pair.
Point = Union[str, tuple[str, str]]


class AgoraError(HfOseError, ValueError):
    """Agora's inputs (data, settings, sampler, labeller) cannot be used as given."""


def sides(point: Point) -> tuple[str, ...]:
    """The point's texts: one for a sentence, two for a pair."""
    if isinstance(point, str):
        return (point,)
    if isinstance(point, (tuple, list)) and len(point) == 2 and all(isinstance(s, str) for s in point):
        return (point[0], point[1])
    raise AgoraError(f"A point is a string or a (first, second) pair of strings, not {point!r}.")


def check_batching(batch_size: int, max_length: int) -> None:
    """Refuse the options of a sampler or labeller that runs a model on points: a batch size under 1 or a token
    budget under 2."""
    if batch_size < 1 or max_length < 2:
        raise AgoraError(f"batch_size must be at least 1 and max_length at least 2, got {batch_size}, "
                         f"{max_length}.")


class Sampler(ABC):
    """Proposes new points near given points, in one representation space."""

    #: The name ``AgoraArguments.agora_sampler`` selects the sampler by.
    name: ClassVar[str]

    @abstractmethod
    def sample(self, points: Sequence[Point], per_point: int, *, tokenizer: PreTrainedTokenizerBase,
               max_length: int, seed: int) -> list[list[Point]]:
        """For each of ``points``, up to ``per_point`` new points near it: deterministic for a ``seed``, each
        within ``max_length`` tokens of ``tokenizer`` (pairs counted together), never an exact copy of the
        point it came from, and for a pair only one side changed. An inner list may be empty."""


class Labeller(ABC):
    """Gives points a probability per class, in the label space of the task."""

    @property
    @abstractmethod
    def num_labels(self) -> int:
        """How many classes each row of :meth:`probabilities` covers."""

    @property
    def label_names(self) -> tuple[str, ...] | None:
        """The classes' names in column order, when known (checked against the student's ``id2label``)."""
        return None

    @abstractmethod
    def probabilities(self, points: Sequence[Point]) -> np.ndarray:
        """A float array of shape ``(len(points), num_labels)`` whose rows sum to 1."""
