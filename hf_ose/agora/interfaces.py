"""What Agora's loop works with: points, and what it asks of a sampler and a labeller, its two pluggable parts
(design notes, "Agora").

A point is one example: a string for single-sentence tasks, a ``(first, second)`` pair for sentence-pair tasks
(raw text), or a :class:`TokenizedPoint` (a tokenized dataset's row, or a sentence of words for token
classification). A :class:`Sampler` proposes new points near the development set's mistakes; a :class:`Labeller`
labels them: a probability per class, a score (regression) or a tag distribution per token. Both are small
strategy objects, in the manner of Torch-Pruning's importance criteria: the loop never needs to know which one it
holds.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Sequence, Union

from ..exceptions import HfOseError
from ..metrics import IGNORED_LABEL as IGNORED  # noqa: F401 (the label of a position that carries no tag)

if TYPE_CHECKING:
    import numpy as np
    from transformers import PreTrainedTokenizerBase

#: Where the nearest-neighbour sampler embeds the unlabelled pool and the mistakes (``agora_pool_space``), and
#: with which features (:data:`hf_ose.agora.samplers.POOL_FEATURES`).
POOL_SPACE_FEATURES = {"teacher": "mean-pooled", "student": "mean-pooled", "teacher-head": "head-input"}
POOL_SPACES = tuple(POOL_SPACE_FEATURES)


class AgoraError(HfOseError, ValueError):
    """Agora's inputs (data, settings, sampler, labeller) cannot be used as given."""


@dataclass(frozen=True)
class TokenizedPoint:
    """One tokenized example, unpadded: the model inputs per position and, for token classification, ``tags``:
    a tag id on each word's first sub-word and :data:`IGNORED` elsewhere (the ``labels`` a
    ``DataCollatorForTokenClassification`` dataset holds). Samplers keep ``tags`` aligned with ``input_ids``;
    the labeller then re-tags every tagged position."""

    input_ids: tuple[int, ...]
    attention_mask: tuple[int, ...] | None = None
    token_type_ids: tuple[int, ...] | None = None
    tags: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        for name in ("attention_mask", "token_type_ids", "tags"):
            value = getattr(self, name)
            if value is not None and len(value) != len(self.input_ids):
                raise AgoraError(f"A tokenized point's {name} has {len(value)} positions but its input_ids "
                                 f"{len(self.input_ids)}: every per-token column must match input_ids.")

    def inputs(self) -> dict[str, list[int]]:
        """The model inputs as lists (the columns that are set)."""
        return {name: list(value) for name in ("input_ids", "attention_mask", "token_type_ids")
                if (value := getattr(self, name)) is not None}

    def tagged_positions(self) -> list[int]:
        """The positions that carry a tag (empty without tags)."""
        return [i for i, tag in enumerate(self.tags or ()) if tag != IGNORED]


#: One example: a sentence, a sentence pair, or a tokenized point.
Point = Union[str, tuple[str, str], TokenizedPoint]


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
        point it came from, and for a pair only one side changed. An inner list may be empty. A
        :class:`TokenizedPoint` gives tokenized points, never longer than it, with its ``tags`` (if any) kept
        aligned to the words they tag; a sampler that reads only text refuses them."""


class Labeller(ABC):
    """Labels points in the task's label space: :meth:`probabilities` for classification, :meth:`scores` for
    regression (``num_labels == 1``), :meth:`tag_probabilities` for token classification; a labeller implements
    the ones its task has (the others say so)."""

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

    def scores(self, points: Sequence[Point]) -> np.ndarray:
        """Regression: a float array of shape ``(len(points),)``, one score per point."""
        raise AgoraError(f"{type(self).__name__} gives class probabilities, not scores: label a regression task "
                         "with a model with num_labels=1 (problem_type 'regression') or a callable returning one "
                         "score per point.")

    def tag_probabilities(self, points: Sequence[TokenizedPoint]) -> list[np.ndarray]:
        """Token classification: per point, a float array ``(len(point.input_ids), num_labels)`` of tag
        probabilities per position (only the tagged positions are read)."""
        raise AgoraError(f"{type(self).__name__} does not tag tokens: label a token-classification task with a "
                         "*ForTokenClassification model or a callable returning per-token tag probabilities.")
