"""Masked-LM token substitution: mask a few tokens of one side and put in the masked LM's own guesses."""

from __future__ import annotations

import random
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Sequence

import torch
from transformers import AutoModelForMaskedLM, AutoTokenizer, PreTrainedModel
from transformers.models.auto.modeling_auto import MODEL_FOR_MASKED_LM_MAPPING_NAMES

from .interfaces import AgoraError, Point, Sampler
from .points import collect, sides, with_side

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase


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
