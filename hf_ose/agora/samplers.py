"""Samplers by name (the registry ``AgoraArguments.agora_sampler`` reads) and the light token-edit sampler.

Every sampler here draws from ``random.Random(f"{seed}/{index}")`` per input point, so a point's samples do
not depend on the other points in the call, and edits one side of a sentence pair at a time.
"""

from __future__ import annotations

import inspect
import random
from typing import TYPE_CHECKING, Any, Iterator, Sequence

from ..plugins import Registry, deprecated_view
from .interfaces import AgoraError, Point, Sampler
from .masked_lm import MaskedLMSampler
from .neighbours import NearestNeighbourSampler
from .points import collect, sides, token_ids, with_side

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

__all__ = ["SAMPLER_REGISTRY", "MaskedLMSampler", "NearestNeighbourSampler", "TokenEditSampler", "get_sampler",
           "register_sampler"]

OPERATIONS = ("drop", "swap", "mask")


class TokenEditSampler(Sampler):
    """Light edits at the tokenizer's token level: drop one token, swap two neighbouring tokens, or replace a
    span of up to ``max_span`` tokens with the mask token (the unknown token when there is none)."""

    name = "token-edits"

    def __init__(self, operations: Sequence[str] = OPERATIONS, *, max_span: int = 3, tries: int = 10) -> None:
        unknown = sorted(set(operations) - set(OPERATIONS))
        if unknown or not operations:
            raise AgoraError(f"Token edit operations must be a non-empty subset of {OPERATIONS}, got "
                             f"{list(operations)}.")
        if max_span < 1 or tries < 1:
            raise AgoraError(f"max_span and tries must be at least 1, got {max_span} and {tries}.")
        self.operations = tuple(operations)
        self.max_span = max_span
        self.tries = tries

    def sample(self, points: Sequence[Point], per_point: int, *, tokenizer: PreTrainedTokenizerBase,
               max_length: int, seed: int) -> list[list[Point]]:
        """Up to ``per_point`` distinct edits of each point (fewer when the point allows no more)."""
        mask_id = tokenizer.mask_token_id if tokenizer.mask_token_id is not None else tokenizer.unk_token_id
        out = []
        for index, point in enumerate(points):
            rng = random.Random(f"{seed}/{index}")
            ids = [token_ids(text, tokenizer) for text in sides(point)]
            edits = self._edits(point, ids, rng, mask_id, tokenizer, per_point * self.tries)
            out.append(collect(point, edits, per_point, tokenizer, max_length))
        return out

    def _edits(self, point: Point, ids: list[list[int]], rng: random.Random, mask_id: int | None,
               tokenizer: PreTrainedTokenizerBase, attempts: int) -> Iterator[tuple[Point, int | None]]:
        """Edited points, each with the side it left untouched (None for a single sentence)."""
        for _ in range(attempts):
            options = [(side, op) for side, side_ids in enumerate(ids) for op in self.operations
                       if _possible(op, side_ids, mask_id)]
            if not options:
                return
            side, op = rng.choice(options)
            edited = _apply(op, ids[side], rng, mask_id, self.max_span)
            text = tokenizer.decode(edited, skip_special_tokens=False).strip()
            yield with_side(point, side, text), (1 - side if len(ids) == 2 else None)


def _possible(op: str, ids: list[int], mask_id: int | None) -> bool:
    if op == "drop":
        return len(ids) >= 2
    if op == "swap":
        return any(a != b for a, b in zip(ids, ids[1:]))
    return mask_id is not None and any(i != mask_id for i in ids)


def _apply(op: str, ids: list[int], rng: random.Random, mask_id: int | None, max_span: int) -> list[int]:
    """``ids`` changed by ``op`` (which :func:`_possible` allows); the input list is left as it is."""
    ids = list(ids)
    if op == "drop":
        del ids[rng.randrange(len(ids))]
    elif op == "swap":
        i = rng.choice([i for i in range(len(ids) - 1) if ids[i] != ids[i + 1]])
        ids[i], ids[i + 1] = ids[i + 1], ids[i]
    else:
        start = rng.choice([i for i, token in enumerate(ids) if token != mask_id])
        length = rng.randint(1, min(max_span, len(ids) - start))
        ids[start:start + length] = [mask_id] * length
    return ids


#: Sampler classes by name, built with options when used; :func:`register_sampler` adds more, and installed
#: packages offer theirs through the ``hf_ose.samplers`` entry-point group.
SAMPLER_REGISTRY: Registry[type[Sampler]] = Registry(
    kind="sampler", error=AgoraError, base=Sampler, group="hf_ose.samplers",
    register_call="hf_ose.agora.samplers.register_sampler",
)


def register_sampler(cls: type[Sampler], *, overwrite: bool = False) -> type[Sampler]:
    """Make ``cls`` selectable by its ``name`` (usable as a class decorator); a name taken by another class is
    refused unless ``overwrite=True``."""
    return SAMPLER_REGISTRY.register(cls, overwrite=overwrite)


for _cls in (TokenEditSampler, MaskedLMSampler, NearestNeighbourSampler):
    register_sampler(_cls)


def get_sampler(name_or_obj: str | Sampler | type[Sampler], **kwargs: Any) -> Sampler:
    """A sampler: ``name_or_obj`` itself when it is one, else the registered (or given) class built with
    ``kwargs`` (e.g. ``get_sampler("nearest-neighbours", encoder=..., tokenizer=..., pool=...)``)."""
    if isinstance(name_or_obj, Sampler):
        if kwargs:
            raise AgoraError(f"get_sampler got a ready {type(name_or_obj).__name__} and options {sorted(kwargs)}: "
                             "pass the options to its constructor instead.")
        return name_or_obj
    if isinstance(name_or_obj, type) and issubclass(name_or_obj, Sampler):
        return _build(name_or_obj, kwargs)
    if isinstance(name_or_obj, str):
        return _build(SAMPLER_REGISTRY.get(name_or_obj), kwargs)
    raise AgoraError(f"get_sampler takes a sampler name, class or object, got {name_or_obj!r}; choose one of "
                     f"{SAMPLER_REGISTRY.names()}.")


def _build(cls: type[Sampler], kwargs: dict[str, Any]) -> Sampler:
    """``cls(**kwargs)``, or a clear error naming the arguments it takes when they do not fit."""
    signature = inspect.signature(cls)
    try:
        signature.bind(**kwargs)
    except TypeError as error:
        raise AgoraError(f"Sampler {cls.name!r} cannot be built from {sorted(kwargs)} ({error}): it takes "
                         f"{cls.__name__}{signature}; build it and pass the sampler object instead "
                         "(AgoraTrainer(..., sampler=...)).") from error
    return cls(**kwargs)


__getattr__ = deprecated_view(__name__, "SAMPLERS", SAMPLER_REGISTRY,
                              "SAMPLER_REGISTRY (names(), get(), register(), unregister())")
