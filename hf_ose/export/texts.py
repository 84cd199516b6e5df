"""The text export calibrates int8 on and checks parity with: sentences, (first, second) sentence pairs, or words
(a token classifier's pre-split input); cleaned, cut to bounded seeded samples and tokenised
(files are read by :func:`hf_ose.data.load_texts`).

A whole training file is fine as calibration text: :func:`draw_samples` keeps a seeded sample of at most
:data:`CALIBRATION_SIZE` texts for calibration and :data:`PARITY_SIZE` for the parity check (held out from the
calibration sample where the text allows), so the cost does not grow with the file.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Union

from .backend import ExportError

if TYPE_CHECKING:
    from transformers import BatchEncoding, PreTrainedTokenizerBase

#: One input: a sentence, a (first, second) sentence pair, or a token classifier's words.
Text = Union[str, tuple[str, str], list[str]]

#: Texts int8 is calibrated on at most (NNCF's own default subset size).
CALIBRATION_SIZE = 300
#: Texts the parity check compares at most (both padding sides of each).
PARITY_SIZE = 200
#: The seed of both samples.
SAMPLE_SEED = 0


@dataclass(frozen=True)
class TextSamples:
    """The bounded samples drawn from the ``given`` texts: ``calibration`` and ``parity``, ``held_out`` of the
    latter not in the former."""

    given: int
    calibration: list[Text]
    parity: list[Text]
    held_out: int
    seed: int

    def to_dict(self, calibrated: bool) -> dict[str, object]:
        """What the export record states: sizes and seed (calibration only where the precision calibrates)."""
        return {"given": self.given, "seed": self.seed, "calibration": len(self.calibration) if calibrated else None,
                "parity": len(self.parity), "parity_held_out": self.held_out}


def draw_samples(texts: Sequence[Text], calibration_size: int = CALIBRATION_SIZE, parity_size: int = PARITY_SIZE,
                 seed: int = SAMPLE_SEED) -> TextSamples:
    """A seeded calibration sample of at most ``calibration_size`` of ``texts`` and a parity sample of at most
    ``parity_size``: texts left out of the calibration sample first, then calibration texts when too few remain.
    Each sample keeps the texts' order."""
    for name, size in (("calibration_size", calibration_size), ("parity_size", parity_size)):
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ExportError(f"{name} must be a whole number of texts, at least 1, not {size!r}.")
    order = list(range(len(texts)))
    random.Random(seed).shuffle(order)
    calibration, rest = order[:calibration_size], order[calibration_size:]
    parity = rest[:parity_size] + calibration[:max(0, parity_size - len(rest))]
    return TextSamples(given=len(texts), calibration=[texts[i] for i in sorted(calibration)],
                       parity=[texts[i] for i in sorted(parity)], held_out=min(len(rest), parity_size), seed=seed)


def clean_texts(texts: Iterable[Any], *, words: bool = False) -> list[Text]:
    """``texts`` with surrounding whitespace stripped and empty ones (a pair with an empty side, words with none)
    left out. Sentences and pairs; with ``words`` (a token classifier), lists of words or sentences, which are
    split on whitespace. A mix of sentences and pairs, or a value of neither kind, is refused."""
    cleaned = [_words(text) if words else _sentence_or_pair(text) for text in texts]
    cleaned = [text for text in cleaned if text]
    if not words and len({isinstance(text, str) for text in cleaned}) > 1:
        raise ExportError("The calibration text mixes single sentences and sentence pairs: pass one kind, as the "
                          "model reads its inputs.")
    return cleaned


def has_text(texts: Iterable[Any]) -> bool:
    """Whether any of ``texts`` (of any kind :func:`clean_texts` takes) holds a non-blank string."""
    return any(text.strip() if isinstance(text, str) else isinstance(text, (tuple, list)) and any(
        isinstance(part, str) and part.strip() for part in text) for text in texts)



def tokenize(tokenizer: PreTrainedTokenizerBase, texts: Sequence[Text], **kwargs: Any) -> BatchEncoding:
    """``tokenizer(texts, **kwargs)``: pairs are encoded as pairs (both sides, their segment ids), words as
    pre-split words (``is_split_into_words``)."""
    if texts and isinstance(texts[0], tuple):
        return tokenizer([first for first, _ in texts], [second for _, second in texts], **kwargs)
    if texts and isinstance(texts[0], list):
        return tokenizer(list(texts), is_split_into_words=True, **kwargs)
    return tokenizer(list(texts), **kwargs)


def _sentence_or_pair(text: Any) -> str | tuple[str, str] | None:
    if isinstance(text, str):
        return text.strip() or None
    if isinstance(text, (tuple, list)) and len(text) == 2 and all(isinstance(side, str) for side in text):
        first, second = text[0].strip(), text[1].strip()
        return (first, second) if first and second else None
    raise ExportError(f"Calibration text {text!r} is neither a sentence nor a pair of sentences: pass strings, or "
                      "(first, second) tuples for a sentence-pair model.")


def _words(text: Any) -> list[str] | None:
    if isinstance(text, str):
        return text.split() or None
    if isinstance(text, (tuple, list)) and all(isinstance(word, str) for word in text):
        return [word.strip() for word in text if word.strip()] or None
    raise ExportError(f"Calibration text {text!r} is neither a sentence nor a list of words: a token classifier "
                      "reads sentences (split on whitespace) or lists of words.")
