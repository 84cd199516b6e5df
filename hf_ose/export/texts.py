"""Calibration and parity text: sentences, or sentence pairs for pair tasks (RTE, MNLI), tokenised as pairs."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Union

from transformers import BatchEncoding, PreTrainedTokenizerBase

from .errors import ExportError

#: One input: a sentence, or a (first, second) sentence pair.
Text = Union[str, tuple[str, str]]


def clean_texts(texts: Iterable[Text]) -> list[Text]:
    """``texts`` with surrounding whitespace stripped, empty ones (a pair with an empty side) left out; a mix of
    sentences and pairs, or a pair that is not two strings, is refused."""
    cleaned: list[Text] = []
    for text in texts:
        if isinstance(text, str):
            if text.strip():
                cleaned.append(text.strip())
        elif isinstance(text, (tuple, list)) and len(text) == 2 and all(isinstance(side, str) for side in text):
            if text[0].strip() and text[1].strip():
                cleaned.append((text[0].strip(), text[1].strip()))
        else:
            raise ExportError(f"Calibration text {text!r} is neither a sentence nor a pair of sentences: pass "
                              "strings, or (first, second) tuples for a sentence-pair model.")
    if len({isinstance(text, str) for text in cleaned}) > 1:
        raise ExportError("The calibration text mixes single sentences and sentence pairs: pass one kind, as the "
                          "model reads its inputs.")
    return cleaned


def tokenize(tokenizer: PreTrainedTokenizerBase, texts: Sequence[Text], **kwargs: Any) -> BatchEncoding:
    """``tokenizer(texts, **kwargs)``; sentence pairs are encoded as pairs (both sides, their segment ids)."""
    if texts and not isinstance(texts[0], str):
        return tokenizer([first for first, _ in texts], [second for _, second in texts], **kwargs)
    return tokenizer(list(texts), **kwargs)
