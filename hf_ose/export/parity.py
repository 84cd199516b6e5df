"""Parity: an artifact's outputs against the PyTorch model's on real text, with right and left padding.

Only real tokens are compared (padding positions carry no meaning). The figures: the largest absolute output
difference; for classifiers the share of predictions that agree; for feature extractors the smallest cosine
similarity between a token's two vectors. Tolerances per precision are the :data:`TOLERANCES` constants. The
texts compared (and calibrated on) are sentences, or sentence pairs for pair tasks (RTE, MNLI), tokenised as pairs.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Union

import numpy as np
import torch

from .backend import ExportError, ParityError, Session

if TYPE_CHECKING:
    from transformers import BatchEncoding, PreTrainedModel, PreTrainedTokenizerBase

#: One input: a sentence, or a (first, second) sentence pair.
Text = Union[str, tuple[str, str]]

#: Sentences compared when no calibration text is given: short and long, plain and punctuated.
DEFAULT_TEXTS: tuple[str, ...] = (
    "The movie was great.",
    "I did not like it at all: it was boring, and far too long for what it had to say.",
    "ok",
    "Paris is the capital of France, and Berlin is the capital of Germany.",
    "A gripping, beautifully shot thriller that never lets go.",
    "The service was slow but the food made up for it.",
    "Numbers like 3.14159 and 2,718 appear in the text too.",
    "Why would anyone buy this?",
    "It rains in Seattle most of the year, or so people say; the truth is more complicated.",
    "An utterly forgettable sequel.",
    "She sells sea shells by the sea shore.",
    "Results: 12 of 15 tests passed, 3 failed (see the log for details).",
)
#: At most this many texts are compared (the first ones of the calibration text).
MAX_TEXTS = 64
#: Longest sequence compared, in tokens.
MAX_LENGTH = 128


@dataclass(frozen=True)
class Tolerance:
    """What an artifact of one precision must meet to be kept."""

    max_abs_diff: float  #: largest absolute output difference (logits, or hidden states on real tokens)
    min_agreement: float  #: classifiers: least share of predictions equal to PyTorch's
    min_cosine: float  #: feature extractors: least cosine similarity of a token's two hidden vectors


#: fp32 differs from PyTorch by float rounding only (measured <= 3e-5 on all-MiniLM-L6-v2 with fused attention).
#: int8 moves hidden states by up to ~1 (all-MiniLM-L6-v2, ORT dynamic per-channel int8: max 0.69, token cosine
#: min 0.953, mean 0.989; per-tensor int8 fell to min 0.85): what must hold is the prediction, or the direction
#: of each token's vector. Predictions flip only where PyTorch's own margin is tiny: on all-MiniLM-L6-v2
#: fine-tuned on SST-2, int8 agreed with PyTorch on 98.3% (ONNX) and 98.9% (OpenVINO) of the 872 test rows with
#: accuracy within 0.5 points (README, "Export parity"), so the gate is 98%: it refuses broken artifacts, not
#: near-ties (at 99% one flip in a 64-text calibration set refused a sound artifact).
TOLERANCES: dict[str, Tolerance] = {
    "fp32": Tolerance(max_abs_diff=1e-4, min_agreement=1.0, min_cosine=0.99999),
    "int8": Tolerance(max_abs_diff=2.0, min_agreement=0.98, min_cosine=0.9),
    "int8-static": Tolerance(max_abs_diff=2.0, min_agreement=0.98, min_cosine=0.9),  # calibrated activations too
}


@dataclass(frozen=True)
class ParityResult:
    """How closely an artifact follows the PyTorch model, over ``texts`` texts padded right and left."""

    precision: str
    texts: int
    max_abs_diff: float
    agreement: float | None  #: classifiers only
    min_cosine: float | None  #: feature extractors only
    tolerance: Tolerance

    @property
    def failures(self) -> list[str]:
        """One line per figure outside its tolerance (empty when the artifact passes)."""
        tol, found = self.tolerance, []
        if self.max_abs_diff > tol.max_abs_diff:
            found.append(f"max abs output difference {self.max_abs_diff:.3g} > {tol.max_abs_diff:.3g} "
                         f"(by {self.max_abs_diff - tol.max_abs_diff:.3g})")
        if self.agreement is not None and self.agreement < tol.min_agreement:
            found.append(f"prediction agreement {self.agreement:.2%} < {tol.min_agreement:.2%}")
        if self.min_cosine is not None and self.min_cosine < tol.min_cosine:
            found.append(f"min token cosine {self.min_cosine:.5f} < {tol.min_cosine:.5f}")
        return found

    @property
    def passed(self) -> bool:
        return not self.failures

    def to_dict(self) -> dict[str, object]:
        return {**asdict(self), "passed": self.passed}


def check_parity(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, session: Session, *, precision: str,
                 classifier: bool, input_names: list[str], texts: Sequence[Text] | None = None,
                 tolerance: Tolerance | None = None) -> ParityResult:
    """Compare ``session`` with ``model`` on ``texts`` (default :data:`DEFAULT_TEXTS`) padded right and left."""
    texts = list(texts or DEFAULT_TEXTS)[:MAX_TEXTS]
    diffs, agreements, cosines = [], [], []
    for side in ("right", "left"):
        batch = tokenize(tokenizer, texts, padding=True, truncation=True, max_length=MAX_LENGTH, padding_side=side,
                         return_tensors="np")
        inputs = {name: np.asarray(batch[name], dtype=np.int64) for name in input_names}
        with torch.no_grad():
            reference = model(**{k: torch.from_numpy(v) for k, v in inputs.items()})[0].float().numpy()
        output = np.asarray(session(inputs), dtype=np.float32)
        if output.shape != reference.shape:
            raise ParityError(f"The artifact's output has shape {output.shape}, PyTorch's {reference.shape}: the "
                              "export is broken (wrong output or lost dynamic axes); it was not kept.")
        if classifier:
            diffs.append(np.abs(output - reference).max())
            agreements.append(output.argmax(-1) == reference.argmax(-1))
        else:
            real = inputs["attention_mask"].astype(bool)
            ours, theirs = output[real], reference[real]
            diffs.append(np.abs(ours - theirs).max())
            norms = np.linalg.norm(ours, axis=-1) * np.linalg.norm(theirs, axis=-1)
            cosines.append((ours * theirs).sum(-1) / np.maximum(norms, 1e-12))
    return ParityResult(
        precision=precision, texts=len(texts), max_abs_diff=float(max(diffs)),
        agreement=float(np.concatenate(agreements).mean()) if classifier else None,
        min_cosine=None if classifier else float(np.concatenate(cosines).min()),
        tolerance=tolerance or TOLERANCES[precision],
    )


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
