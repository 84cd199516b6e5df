"""What every sampler does with a point: split it into sides, fit it within a token budget, and keep only new,
distinct candidates (never an exact copy of the point they came from)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable

from .interfaces import AgoraError, Point

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase


def sides(point: Point) -> tuple[str, ...]:
    """The point's texts: one for a sentence, two for a pair."""
    if isinstance(point, str):
        return (point,)
    if isinstance(point, (tuple, list)) and len(point) == 2 and all(isinstance(s, str) for s in point):
        return (point[0], point[1])
    raise AgoraError(f"A point is a string or a (first, second) pair of strings, not {point!r}.")


def with_side(point: Point, side: int, text: str) -> Point:
    """``point`` with side ``side`` replaced by ``text`` (the other side of a pair untouched)."""
    if isinstance(point, str):
        return text
    first, second = sides(point)
    return (text, second) if side == 0 else (first, text)


def token_ids(text: str, tokenizer: PreTrainedTokenizerBase) -> list[int]:
    """``text``'s token ids, without special tokens."""
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def encoded_length(point: Point, tokenizer: PreTrainedTokenizerBase) -> int:
    """How many tokens the model sees for ``point``, special tokens and both sides of a pair included."""
    return len(tokenizer(*sides(point))["input_ids"])


def copy_key(point: Point, tokenizer: PreTrainedTokenizerBase, max_length: int) -> tuple[int, ...]:
    """The token ids the model sees for ``point`` within ``max_length``: two points with the same key are copies
    (this also catches texts that differ only where the tokenizer does not look, e.g. in case)."""
    return tuple(tokenizer(*sides(point), truncation=True, max_length=max_length)["input_ids"])


def _cut(text: str, tokenizer: PreTrainedTokenizerBase, count: int) -> str:
    ids = token_ids(text, tokenizer)
    if len(ids) <= count:
        return text
    return tokenizer.decode(ids[:count], skip_special_tokens=False).strip()


def fit(point: Point, tokenizer: PreTrainedTokenizerBase, max_length: int, keep: int | None = None) -> Point:
    """``point`` cut at token level (then decoded) to at most ``max_length`` tokens. For a pair, the cut falls
    on the side other than ``keep`` first; ``keep`` is cut only when it alone leaves the other under half the
    budget."""
    texts = sides(point)
    budget = max_length - tokenizer.num_special_tokens_to_add(pair=len(texts) == 2)
    if budget < len(texts):
        raise AgoraError(f"max_length={max_length} leaves no room for text with {tokenizer.name_or_path!r}'s "
                         "special tokens: raise agora_max_length.")
    if encoded_length(point, tokenizer) <= max_length:
        return point
    if len(texts) == 1:
        counts = [budget]
    else:
        lengths = [len(token_ids(text, tokenizer)) for text in texts]
        edited = 1 - keep if keep is not None else max(range(2), key=lambda i: lengths[i])
        edited_budget = max(budget - lengths[1 - edited], min(lengths[edited], budget // 2))
        counts = [0, 0]
        counts[edited], counts[1 - edited] = edited_budget, budget - edited_budget
    texts = tuple(_cut(text, tokenizer, count) for text, count in zip(texts, counts))
    for _ in range(8):  # decoding then re-encoding may add a token or two (rare): cut the longest side further
        overflow = encoded_length(_join(texts), tokenizer) - max_length
        if overflow <= 0:
            return _join(texts)
        lengths = [len(token_ids(text, tokenizer)) for text in texts]
        longest = max(range(len(texts)), key=lengths.__getitem__)
        texts = tuple(_cut(t, tokenizer, lengths[i] - overflow) if i == longest else t for i, t in enumerate(texts))
    raise AgoraError(f"{point!r} does not fit in {max_length} tokens after cutting: its decoded text re-encodes "
                     "longer each time; raise agora_max_length.")


def _join(texts: tuple[str, ...]) -> Point:
    return texts if len(texts) == 2 else texts[0]


def collect(point: Point, candidates: Iterable[tuple[Point, int | None]], per_point: int,
            tokenizer: PreTrainedTokenizerBase, max_length: int) -> list[Point]:
    """Up to ``per_point`` of ``candidates`` (each with the side it leaves untouched, or None), fitted within
    ``max_length``, in order, without copies of ``point`` or of each other. Stops reading at ``per_point``."""
    seen = {copy_key(point, tokenizer, max_length)}
    kept: list[Point] = []
    if per_point <= 0:
        return kept
    for candidate, keep in candidates:
        candidate = fit(candidate, tokenizer, max_length, keep)
        if not all(side.strip() for side in sides(candidate)):
            continue
        key = copy_key(candidate, tokenizer, max_length)
        if key in seen:
            continue
        seen.add(key)
        kept.append(candidate)
        if len(kept) == per_point:
            break
    return kept
