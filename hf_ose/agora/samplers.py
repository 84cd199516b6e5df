"""Samplers: the built-in ones (token edits, masked-LM substitution, nearest pool neighbours), the registry
``AgoraArguments.agora_sampler`` reads them from by name, and what every sampler does with a point: fit it
within a token budget and keep only new, distinct candidates (never an exact copy of the point they came from).

Every sampler here draws from ``random.Random(f"{seed}/{index}")`` per input point, so a point's samples do
not depend on the other points in the call, and edits one side of a sentence pair at a time. On tokenized points
(a tokenized dataset's rows) the token edits work on the token ids, special tokens kept in place; on tagged points
(token classification) they work on whole words, each word's tag moving with it.
"""

from __future__ import annotations

import inspect
import random
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Sequence

import torch
import torch.nn.functional as F
from transformers import AutoModelForMaskedLM, AutoTokenizer, PreTrainedModel
from transformers.models.auto.modeling_auto import MODEL_FOR_MASKED_LM_MAPPING_NAMES

from ..distillation.losses import mean_pool
from ..parent import resolve_model_source
from ..plugins import Registry, deprecated_view
from ..tasks import TOKEN_COLUMNS
from .interfaces import IGNORED, AgoraError, Point, Sampler, TokenizedPoint, check_batching, sides

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

__all__ = ["SAMPLER_REGISTRY", "MaskedLMSampler", "NearestNeighbourSampler", "TokenEditSampler", "get_sampler",
           "read_unlabelled", "register_sampler", "source_of"]

#: Text columns an unlabelled file or Dataset may hold, tried in order when none are configured.
POOL_COLUMNS = (("sentence",), ("sentence1", "sentence2"), ("text",))


def mean_pooled_features(model: PreTrainedModel, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """A sentence embedding: the model's encoder's last hidden states, mean-pooled over real tokens."""
    hidden = getattr(model, "base_model", model)(**batch).last_hidden_state
    return mean_pool(hidden, batch["attention_mask"])


def head_input_features(model: PreTrainedModel, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """What the classifier's output layer reads (e.g. BERT's pooled [CLS] vector): the features its labels are a
    linear function of, so texts close here are texts the classifier treats alike. A token classifier's per-token
    inputs are mean-pooled over real tokens. The output layer is the model's last ``nn.Linear`` with one output
    per label."""
    labels = getattr(model.config, "num_labels", None)
    layers = [layer for layer in model.modules() if isinstance(layer, torch.nn.Linear) and layer.out_features == labels]
    if not layers:
        raise AgoraError(f"{type(model).__name__} has no output layer with one output per label ({labels}) to read "
                         "features from: embed the pool with the encoder instead (agora_pool_space='teacher').")
    captured: list[torch.Tensor] = []
    handle = layers[-1].register_forward_hook(lambda module, inputs, output: captured.append(inputs[0]))
    try:
        model(**batch)
    finally:
        handle.remove()
    features = captured[-1]
    return mean_pool(features, batch["attention_mask"]) if features.dim() == 3 else features


#: How :class:`NearestNeighbourSampler` turns a batch into one vector per text, by name.
POOL_FEATURES: dict[str, Callable[[PreTrainedModel, dict[str, torch.Tensor]], torch.Tensor]] = {
    "mean-pooled": mean_pooled_features, "head-input": head_input_features}


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


OPERATIONS = ("drop", "swap", "mask")


def _raw_text_only(sampler: Sampler, points: Sequence[Point]) -> None:
    if any(isinstance(point, TokenizedPoint) for point in points):
        raise AgoraError(f"{type(sampler).__name__} samples raw text, and these points are tokenized: use the "
                         "'token-edits' sampler, which edits token ids (and whole words for token classification), "
                         "or give the datasets as raw text.")


class TokenEditSampler(Sampler):
    """Light edits at the tokenizer's token level: drop one token, swap two neighbouring tokens, or replace a
    span of up to ``max_span`` tokens with the mask token (the unknown token when there is none). A tokenized
    point is edited in its ids, special tokens left in place (a new point is never longer than its source); a
    tagged point (token classification) by whole words: a word is dropped or swapped with its sub-words and tag,
    and a masked word becomes one mask token keeping the word's tag position."""

    name = "token-edits"
    #: How the Agora report counts this sampler's points.
    source = "edits"

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
            if isinstance(point, TokenizedPoint):
                out.append(self._tokenized_samples(point, per_point, rng, mask_id, tokenizer))
                continue
            ids = [token_ids(text, tokenizer) for text in sides(point)]
            edits = self._edits(point, ids, rng, None if mask_id is None else _IdMask(mask_id), tokenizer,
                                per_point * self.tries)
            out.append(collect(point, edits, per_point, tokenizer, max_length))
        return out

    def _edits(self, point: Point, ids: list[list[int]], rng: random.Random, mask: _IdMask | None,
               tokenizer: PreTrainedTokenizerBase, attempts: int) -> Iterator[tuple[Point, int | None]]:
        """Edited points, each with the side it left untouched (None for a single sentence)."""
        for _ in range(attempts):
            options = [(side, op) for side, side_ids in enumerate(ids) for op in self.operations
                       if _possible(op, side_ids, mask)]
            if not options:
                return
            side, op = rng.choice(options)
            edited = _apply(op, ids[side], rng, mask, self.max_span)
            text = tokenizer.decode(edited, skip_special_tokens=False).strip()
            yield with_side(point, side, text), (1 - side if len(ids) == 2 else None)

    def _tokenized_samples(self, point: TokenizedPoint, per_point: int, rng: random.Random, mask_id: int | None,
                           tokenizer: PreTrainedTokenizerBase) -> list[TokenizedPoint]:
        """Up to ``per_point`` distinct edits of a tokenized point, each changing one segment (a run of ordinary
        tokens between special tokens: one side of a pair)."""
        ordinary = {tokenizer.unk_token_id, tokenizer.mask_token_id}  # text tokens, though special to the tokenizer
        segments = _segments(point, set(tokenizer.all_special_ids) - ordinary)
        mask = None if mask_id is None else _UnitMask(mask_id)
        seen, kept = {point.input_ids}, []
        for _ in range(per_point * self.tries):
            options = [(k, op) for k, (_, units) in enumerate(segments) for op in self.operations
                       if _possible(op, units, mask)]
            if not options or len(kept) == per_point:
                break
            k, op = rng.choice(options)
            candidate = _rebuilt(point, segments, k, _apply(op, segments[k][1], rng, mask, self.max_span))
            if candidate.input_ids not in seen:
                seen.add(candidate.input_ids)
                kept.append(candidate)
        return kept


#: One editable unit of a tokenized point, a token or a whole word: its positions' (input id, token type, tag).
_Unit = tuple[tuple[int, Any, int], ...]


def _segments(point: TokenizedPoint, special: set[int]) -> list[tuple[int, list[_Unit]]]:
    """The point's runs of ordinary tokens, each as (start position, units). Without tags a unit is a token;
    with tags a unit is a word: a tagged position and the untagged positions after it."""
    types = point.token_type_ids or (None,) * len(point.input_ids)
    tags = point.tags or (IGNORED,) * len(point.input_ids)
    segments: list[tuple[int, list[list[tuple[int, Any, int]]]]] = []
    open_run = False
    for position, entry in enumerate(zip(point.input_ids, types, tags)):
        if entry[0] in special:
            open_run = False
            continue
        if not open_run:
            segments.append((position, []))
            open_run = True
        units = segments[-1][1]
        if point.tags is None or entry[2] != IGNORED or not units:
            units.append([entry])
        else:
            units[-1].append(entry)
    return [(start, [tuple(unit) for unit in units]) for start, units in segments]


def _rebuilt(point: TokenizedPoint, segments: list[tuple[int, list[_Unit]]], k: int,
             edited: list[_Unit]) -> TokenizedPoint:
    """``point`` with segment ``k``'s units replaced by ``edited`` (the rest, special tokens included, kept)."""
    start, units = segments[k]
    end = start + sum(len(unit) for unit in units)
    entries = [entry for unit in edited for entry in unit]
    ids = point.input_ids[:start] + tuple(e[0] for e in entries) + point.input_ids[end:]
    changed: dict[str, tuple[Any, ...]] = {"input_ids": ids}
    if point.attention_mask is not None:
        changed["attention_mask"] = (1,) * len(ids)
    if point.token_type_ids is not None:
        changed["token_type_ids"] = (point.token_type_ids[:start] + tuple(e[1] for e in entries)
                                     + point.token_type_ids[end:])
    if point.tags is not None:
        changed["tags"] = point.tags[:start] + tuple(e[2] for e in entries) + point.tags[end:]
    return replace(point, **changed)


class _IdMask:
    """Masking token ids: a token becomes the mask id."""

    def __init__(self, mask_id: int) -> None:
        self.mask_id = mask_id

    def is_masked(self, item: Any) -> bool:
        return item == self.mask_id

    def masked(self, item: Any) -> Any:
        return self.mask_id


class _UnitMask(_IdMask):
    """Masking units: a token or a word becomes one mask token, keeping its first position's type and tag."""

    def is_masked(self, item: _Unit) -> bool:
        return len(item) == 1 and item[0][0] == self.mask_id

    def masked(self, item: _Unit) -> _Unit:
        return ((self.mask_id, item[0][1], item[0][2]),)


def _possible(op: str, items: list[Any], mask: _IdMask | None) -> bool:
    if op == "drop":
        return len(items) >= 2
    if op == "swap":
        return any(a != b for a, b in zip(items, items[1:]))
    return mask is not None and any(not mask.is_masked(i) for i in items)


def _apply(op: str, items: list[Any], rng: random.Random, mask: _IdMask | None, max_span: int) -> list[Any]:
    """``items`` (token ids or units) changed by ``op`` (which :func:`_possible` allows); the input list is left
    as it is."""
    items = list(items)
    if op == "drop":
        del items[rng.randrange(len(items))]
    elif op == "swap":
        i = rng.choice([i for i in range(len(items) - 1) if items[i] != items[i + 1]])
        items[i], items[i + 1] = items[i + 1], items[i]
    else:
        start = rng.choice([i for i, item in enumerate(items) if not mask.is_masked(item)])
        length = rng.randint(1, min(max_span, len(items) - start))
        items[start:start + length] = [mask.masked(item) for item in items[start:start + length]]
    return items


class MaskedLMSampler(Sampler):
    """Masks ``mask_share`` of one side's tokens (at least one) and replaces each by a token drawn from the
    masked LM's ``top_k`` predictions there, the original and special tokens excluded. ``model`` is a
    ``*ForMaskedLM`` with trained head weights and ``tokenizer`` its tokenizer (see :meth:`from_pretrained`)."""

    name = "masked-lm"

    def __init__(self, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, *, mask_share: float = 0.15,
                 top_k: int = 10, tries: int = 3) -> None:
        if type(model).__name__ not in MODEL_FOR_MASKED_LM_MAPPING_NAMES.values():
            raise AgoraError(f"MaskedLMSampler needs a *ForMaskedLM model, got {type(model).__name__}: load one "
                             "with MaskedLMSampler.from_pretrained(path) or use sampler 'token-edits'.")
        if tokenizer.mask_token_id is None:
            raise AgoraError(f"The tokenizer {tokenizer.name_or_path!r} has no mask token: pass the masked LM's own "
                             "tokenizer.")
        if not 0.0 < mask_share <= 1.0 or top_k < 1 or tries < 1:
            raise AgoraError(f"mask_share must be in (0, 1] and top_k, tries at least 1; got {mask_share}, {top_k}, "
                             f"{tries}.")
        self.model, self.tokenizer = model, tokenizer
        self.mask_share, self.top_k, self.tries = mask_share, top_k, tries
        self._excluded = torch.tensor(sorted(set(tokenizer.all_special_ids)), dtype=torch.long)

    @classmethod
    def from_pretrained(cls, path: str | Path, **kwargs: Any) -> MaskedLMSampler:
        """Load ``AutoModelForMaskedLM`` and its tokenizer from ``path``; refuse a checkpoint without masked-LM
        head weights (transformers would start that head at random, e.g. for sentence-transformers models)."""
        path = resolve_model_source(path)
        try:
            model, info = AutoModelForMaskedLM.from_pretrained(str(path), output_loading_info=True)
        except ValueError as error:
            raise AgoraError(f"{path} has no masked-LM class in transformers ({error}): use sampler 'token-edits' "
                             "or 'nearest-neighbours'.") from error
        prefix = f"{model.base_model_prefix}."
        missing_head = sorted(key for key in info["missing_keys"] if not key.startswith(prefix))
        if missing_head:
            raise AgoraError(f"{path} has no trained masked-LM head (missing {missing_head[:3]}): transformers would "
                             "fill it at random. Give a checkpoint with an MLM head (e.g. the parent's pre-training "
                             "checkpoint) or use sampler 'token-edits' or 'nearest-neighbours'.")
        return cls(model, AutoTokenizer.from_pretrained(str(path)), **kwargs)

    def sample(self, points: Sequence[Point], per_point: int, *, tokenizer: PreTrainedTokenizerBase,
               max_length: int, seed: int) -> list[list[Point]]:
        """Up to ``per_point`` distinct substitutions per point, within ``max_length`` tokens of ``tokenizer``."""
        _raw_text_only(self, points)
        training = self.model.training
        self.model.eval()
        try:
            out = []
            for index, point in enumerate(points):
                rng = random.Random(f"{seed}/{index}")
                candidates = self._candidates(point, per_point, rng)
                out.append(collect(point, candidates, per_point, tokenizer, max_length))
            return out
        finally:
            self.model.train(training)

    def _candidates(self, point: Point, per_point: int, rng: random.Random) -> Iterator[tuple[Point, int | None]]:
        """Rounds of ``per_point`` substituted points, each with the side it left untouched."""
        limit = getattr(self.model.config, "max_position_embeddings", None)  # what the masked LM can read
        encoded = [self.tokenizer(text, return_special_tokens_mask=True, truncation=limit is not None,
                                  max_length=limit) for text in sides(point)]
        rows = [list(e["input_ids"]) for e in encoded]
        content = [[i for i, special in enumerate(e["special_tokens_mask"]) if not special] for e in encoded]
        editable = [side for side, positions in enumerate(content) if positions]
        if not editable or per_point <= 0:
            return
        for _ in range(self.tries):
            plans = []
            for _ in range(per_point):
                side = rng.choice(editable)
                count = max(1, round(self.mask_share * len(content[side])))
                plans.append((side, sorted(rng.sample(content[side], count))))
            for (side, _), new_row in zip(plans, self._fill(rows, plans, rng)):
                text = self.tokenizer.decode([new_row[i] for i in content[side]], skip_special_tokens=False).strip()
                yield with_side(point, side, text), (1 - side if len(rows) == 2 else None)

    def _fill(self, rows: list[list[int]], plans: list[tuple[int, list[int]]], rng: random.Random) -> list[list[int]]:
        """For each (side, positions) plan, the side's encoded ids with the masked LM's draws at ``positions``."""
        masked = []
        for side, positions in plans:
            row = list(rows[side])
            for position in positions:
                row[position] = self.tokenizer.mask_token_id
            masked.append(row)
        width = max(len(row) for row in masked)
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        input_ids = torch.tensor([row + [pad] * (width - len(row)) for row in masked], device=self.model.device)
        attention_mask = torch.tensor([[1] * len(row) + [0] * (width - len(row)) for row in masked],
                                      device=self.model.device)
        with torch.inference_mode():
            logits = self.model(input_ids=input_ids, attention_mask=attention_mask).logits.float().cpu()
            logits[..., self._excluded] = float("-inf")
        filled = []
        for row, (side, positions) in enumerate(plans):
            new_row = list(rows[side])
            for position in positions:
                scores = logits[row, position].clone()
                scores[rows[side][position]] = float("-inf")
                top = torch.topk(scores, self.top_k)
                weights = torch.softmax(top.values, dim=0).tolist()
                new_row[position] = int(top.indices[rng.choices(range(self.top_k), weights=weights)[0]])
            filled.append(new_row)
        return filled


class NearestNeighbourSampler(Sampler):
    """Returns the pool sentences nearest each input by cosine similarity of ``encoder``'s ``features`` (one of
    :data:`POOL_FEATURES`: by default its mean-pooled last hidden states, the parent's sentence embedding;
    ``"head-input"``: what a classifier's output layer reads), never one that copies the input. The pool is flattened to
    its distinct sentences (pairs give both sides), less ``exclude``, and embedded once per encoder, on first use
    (:meth:`use_encoder` swaps the encoder, e.g. for each round's student). With ``draw_once``, a pool sentence is
    returned at most once over the sampler's life (an unlabelled pool: each text becomes one training point). For
    a pair, each sample replaces one side (drawn from the seed) by that side's next nearest sentence; for a
    sentence, the seed plays no part: the nearest are the nearest.

    Tokenized points (token classification's sentences of words) are sampled when ``as_point`` is given: a point's
    text is its tokens decoded, and each pool sentence drawn near it is returned as ``as_point(text, tokenizer,
    max_length)`` (e.g. :func:`hf_ose.agora.rows.pool_words_point`: its words, tokenized, for the labeller to tag).
    """

    name = "nearest-neighbours"
    #: How the Agora report counts this sampler's points.
    source = "pool"

    def __init__(self, encoder: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, pool: Sequence[Point], *,
                 batch_size: int = 32, max_length: int = 128, exclude: Iterable[str] = (),
                 draw_once: bool = False,
                 as_point: Callable[[str, PreTrainedTokenizerBase, int], TokenizedPoint] | None = None,
                 features: str = "mean-pooled") -> None:
        excluded = set(exclude)
        self.pool = list(dict.fromkeys(text for point in pool for text in sides(point)
                                       if text.strip() and text not in excluded))
        if not self.pool:
            raise AgoraError("The nearest-neighbour pool holds no text (after leaving out the task's own texts): "
                             "pass unlabelled sentences (e.g. the train split's texts) as `pool`.")
        check_batching(batch_size, max_length)
        if features not in POOL_FEATURES:
            raise AgoraError(f"features={features!r}: choose one of {', '.join(POOL_FEATURES)}.")
        self.encoder, self.tokenizer, self.features = encoder, tokenizer, POOL_FEATURES[features]
        self.batch_size, self.max_length = batch_size, max_length
        self.draw_once, self.as_point = draw_once, as_point
        self._drawn: set[str] = set()
        self._pool_embeddings: torch.Tensor | None = None

    def use_encoder(self, encoder: PreTrainedModel, tokenizer: PreTrainedTokenizerBase) -> None:
        """Embed with ``encoder`` from now on (the pool is re-embedded on next use when the encoder changes)."""
        if encoder is not self.encoder or tokenizer is not self.tokenizer:
            self.encoder, self.tokenizer = encoder, tokenizer
            self._pool_embeddings = None

    @property
    def remaining(self) -> int:
        """Pool sentences not yet returned (all of them without ``draw_once``)."""
        return len(self.pool) - len(self._drawn)

    def embed(self, texts: Sequence[str]) -> torch.Tensor:
        """Unit-length embeddings of ``texts`` (the sampler's ``features``), one row each, in batches, in eval mode."""
        training = self.encoder.training
        self.encoder.eval()
        rows = []
        try:
            with torch.inference_mode():
                for start in range(0, len(texts), self.batch_size):
                    batch = self.tokenizer(list(texts[start:start + self.batch_size]), padding=True,
                                           truncation=True, max_length=self.max_length, return_tensors="pt")
                    batch = {k: v.to(self.encoder.device) for k, v in batch.items()}
                    rows.append(self.features(self.encoder, batch).float().cpu())
        finally:
            self.encoder.train(training)
        return F.normalize(torch.cat(rows), dim=-1)

    def sample(self, points: Sequence[Point], per_point: int, *, tokenizer: PreTrainedTokenizerBase,
               max_length: int, seed: int) -> list[list[Point]]:
        """Up to ``per_point`` pool neighbours per point (fewer when the pool runs out), within ``max_length``."""
        if self.as_point is None:
            _raw_text_only(self, points)
        texts = [_texts_of(point, tokenizer) for point in points]
        if self._pool_embeddings is None:
            self._pool_embeddings = self.embed(self.pool)
        queries = list(dict.fromkeys(text for point_texts in texts for text in point_texts))
        if not queries:
            return []
        similarity = self.embed(queries) @ self._pool_embeddings.T
        # deep enough that the ranked lists outlast what this call and earlier ones draw
        wanted = len(self._drawn) + (len(points) + 4) * per_point + 16
        depth = min(len(self.pool), wanted) if self.draw_once else len(self.pool)
        order = torch.topk(similarity, depth, dim=1).indices.tolist() if depth < len(self.pool) else \
            torch.argsort(similarity, dim=1, descending=True, stable=True).tolist()
        ranked = {query: [self.pool[j] for j in row] for query, row in zip(queries, order)}
        out = []
        for index, (point, point_texts) in enumerate(zip(points, texts)):
            if isinstance(point, TokenizedPoint):
                kept, drawn = self._tokenized(point, ranked[point_texts[0]], per_point, tokenizer, max_length)
            else:
                rng = random.Random(f"{seed}/{index}")
                candidates = self._candidates(point, ranked, rng, tokenizer, max_length)
                kept = collect(point, candidates, per_point, tokenizer, max_length)
                drawn = [text for new in kept for text in sides(new) if text not in point_texts]
            if self.draw_once:
                self._drawn.update(drawn)
            out.append(kept)
        return out

    def _tokenized(self, point: TokenizedPoint, ranked: list[str], per_point: int,
                   tokenizer: PreTrainedTokenizerBase, max_length: int) -> tuple[list[Point], list[str]]:
        """Up to ``per_point`` of the ``ranked`` pool texts as points (``as_point``), nearest first, skipping texts
        already drawn (``draw_once``) and points with the tokens of ``point`` or of an earlier one; with the
        texts they came from."""
        kept: list[Point] = []
        drawn: list[str] = []
        seen = {point.input_ids}
        for text in ranked:
            if len(kept) == per_point:
                break
            if text in self._drawn:
                continue
            new = self.as_point(text, tokenizer, max_length)
            if new.input_ids not in seen:
                seen.add(new.input_ids)
                kept.append(new)
                drawn.append(text)
        return kept, drawn

    def _candidates(self, point: Point, ranked: dict[str, list[str]], rng: random.Random,
                    tokenizer: PreTrainedTokenizerBase, max_length: int) -> Iterator[tuple[Point, int | None]]:
        """The point with one side replaced by that side's next nearest pool sentence, copies of it (and, with
        ``draw_once``, sentences already returned) skipped."""
        texts = sides(point)
        keys = [copy_key(text, tokenizer, max_length) for text in texts]
        remaining = [iter(t for t in ranked[text]
                          if t not in self._drawn and copy_key(t, tokenizer, max_length) != key)
                     for text, key in zip(texts, keys)]
        open_sides = list(range(len(texts)))
        while open_sides:
            side = rng.choice(open_sides) if len(open_sides) > 1 else open_sides[0]
            neighbour = next(remaining[side], None)
            if neighbour is None:
                open_sides.remove(side)
                continue
            yield with_side(point, side, neighbour), (1 - side if len(texts) == 2 else None)


def _texts_of(point: Point, tokenizer: PreTrainedTokenizerBase) -> tuple[str, ...]:
    """A point's texts: its sides, or a tokenized point's tokens decoded (special tokens left out)."""
    if isinstance(point, TokenizedPoint):
        return (tokenizer.decode(list(point.input_ids), skip_special_tokens=True),)
    return sides(point)


def read_unlabelled(source: str | Path | Sequence[Point] | Any, columns: Sequence[str] | None = None) -> list[Point]:
    """An unlabelled pool's points: from a file (``.txt`` and other text: one text a line; ``.jsonl``,
    ``.csv``, ``.tsv``: the text ``columns``, by default ``sentence``, ``sentence1`` + ``sentence2`` or
    ``text``, or a sentence's words in ``tokens``, joined by spaces), a ``datasets.Dataset`` (the same columns),
    or a list of texts or ``(first, second)`` pairs. Labels in the rows are ignored. Blank texts are left out; an
    empty pool is an error."""
    from ..data import DataError, read_rows

    if isinstance(source, (str, Path)):
        try:
            rows = read_rows(source)
        except DataError as error:
            raise AgoraError(f"Cannot read the unlabelled pool: {error}") from error
        name = str(source)
    elif hasattr(source, "column_names"):
        rows, name = list(source), "the unlabelled Dataset"
    elif isinstance(source, Sequence):
        rows, name = list(source), "the unlabelled list"
    else:
        raise AgoraError(f"The unlabelled pool must be a file path, a datasets.Dataset or a list of texts, not "
                         f"{type(source).__name__}.")
    points = [_pool_point(row, columns, name) for row in rows]
    points = [point for point in points if all(text.strip() for text in sides(point))]
    if not points:
        raise AgoraError(f"{name} holds no text: give unlabelled in-domain sentences, one per line or row.")
    return points


def _pool_point(row: Any, columns: Sequence[str] | None, name: str) -> Point:
    if isinstance(row, str):
        return row
    if isinstance(row, (tuple, list)):
        return sides(tuple(row))
    if not isinstance(row, dict):
        raise AgoraError(f"{name} has a row {str(row)[:80]!r} that is neither a text nor a row of columns.")
    words = row.get(TOKEN_COLUMNS[0])
    if not columns and isinstance(words, list) and all(isinstance(word, str) for word in words):
        return " ".join(words)
    candidates = [tuple(columns)] if columns else POOL_COLUMNS
    found = next((c for c in candidates if all(isinstance(row.get(k), str) for k in c)), None)
    if found is None:
        raise AgoraError(f"{name} has a row with columns {sorted(row)} and no text column "
                         f"{' or '.join('+'.join(c) for c in candidates)} (or words in {TOKEN_COLUMNS[0]!r}): name "
                         "its text columns with "
                         "agora_text_columns, or write one text per line in a .txt file.")
    return row[found[0]] if len(found) == 1 else (row[found[0]], row[found[1]])


def source_of(sampler: Sampler) -> str:
    """How the Agora report counts ``sampler``'s points: its ``source`` (``pool``, ``edits``), else its name."""
    return str(getattr(sampler, "source", None) or getattr(sampler, "name", type(sampler).__name__))


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
