"""A sentence-transformers model's pipeline read from its folder (pooling, normalisation, sequence length), and
:class:`SentenceEncoder`, which turns texts into the embeddings that pipeline gives, from a PyTorch encoder or
from any runtime that returns the last hidden state (an ONNX Runtime or OpenVINO artifact)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F

from ..exceptions import HfOseError

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

#: Pooling modes computed here, by sentence-transformers' name, and the legacy config keys that select them.
POOLING_MODES: dict[str, str] = {
    "mean": "pooling_mode_mean_tokens", "cls": "pooling_mode_cls_token", "max": "pooling_mode_max_tokens",
    "mean_sqrt_len_tokens": "pooling_mode_mean_sqrt_len_tokens",
}
_ST_MODULE = "sentence_transformers.models."
_KNOWN_MODULES = {"Transformer", "Pooling", "Normalize"}
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")

#: Numpy int64 model inputs -> the last hidden state (batch, tokens, width).
HiddenStates = Callable[[dict[str, np.ndarray]], np.ndarray]


class EmbeddingError(HfOseError, ValueError):
    """A model, pipeline, text list or artifact that cannot give sentence embeddings as asked; the message names
    the fix."""


@dataclass(frozen=True)
class Pooling:
    """How token vectors become one sentence vector: the pooling mode, whether the vector is normalised to unit
    length, and the longest input in tokens (``None``: the tokenizer's limit)."""

    mode: str = "mean"
    normalize: bool = False
    max_seq_length: int | None = None

    def __post_init__(self) -> None:
        if self.mode not in POOLING_MODES:
            raise EmbeddingError(f"Pooling mode {self.mode!r} is not supported here; use one of {list(POOLING_MODES)}.")

    @classmethod
    def from_folder(cls, folder: str | Path) -> Pooling:
        """The pipeline a sentence-transformers folder declares: ``modules.json``, the Pooling module's
        ``config.json`` and ``sentence_bert_config.json``. Refuses a plain transformers folder and pipelines with
        modules other than Transformer, Pooling and Normalize (e.g. a Dense projection)."""
        folder = Path(folder)
        if not (folder / "modules.json").is_file():
            raise EmbeddingError(
                f"{folder} is not a sentence-transformers model (no modules.json): pass a sentence-transformers "
                "folder, or state the pipeline yourself, e.g. Pooling(mode='mean', normalize=True)."
            )
        modules = json.loads((folder / "modules.json").read_text(encoding="utf-8"))
        kinds = [module["type"].removeprefix(_ST_MODULE) for module in modules]
        unknown = [kind for kind in kinds if kind not in _KNOWN_MODULES]
        if unknown or "Pooling" not in kinds:
            raise EmbeddingError(
                f"{folder}'s pipeline is {kinds}; hf-ose encodes Transformer -> Pooling [-> Normalize] pipelines only"
                f"{f' (not {unknown})' if unknown else ' (it has no Pooling module)'}. Use a model with that pipeline."
            )
        pooling_dir = folder / modules[kinds.index("Pooling")]["path"]
        settings = json.loads((pooling_dir / "config.json").read_text(encoding="utf-8"))
        mode = settings.get("pooling_mode") or [name for name, key in POOLING_MODES.items() if settings.get(key)]
        if isinstance(mode, list):
            if len(mode) != 1:
                raise EmbeddingError(f"{pooling_dir / 'config.json'} selects {len(mode)} pooling modes {mode}; "
                                     f"hf-ose pools with exactly one of {list(POOLING_MODES)}.")
            mode = mode[0]
        bert_config = folder / "sentence_bert_config.json"
        length = json.loads(bert_config.read_text(encoding="utf-8")).get("max_seq_length") if bert_config.is_file() else None
        return cls(mode=mode, normalize="Normalize" in kinds, max_seq_length=length)

    def __call__(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Sentence vectors (batch, width) of ``hidden`` (batch, tokens, width) over the real tokens."""
        mask = attention_mask.to(hidden.dtype).unsqueeze(-1)
        if self.mode == "cls":
            pooled = hidden[:, 0]
        elif self.mode == "max":
            pooled = hidden.masked_fill(mask == 0, torch.finfo(hidden.dtype).min).amax(dim=1)
        else:
            counts = mask.sum(dim=1).clamp(min=1.0)
            pooled = (hidden * mask).sum(dim=1) / (counts if self.mode == "mean" else counts.sqrt())
        return F.normalize(pooled, dim=-1) if self.normalize else pooled


class SentenceEncoder:
    """Texts -> sentence embeddings (numpy float32, one row per text) through ``hidden_states`` (numpy int64
    inputs -> last hidden state), ``tokenizer`` and ``pooling``. Build one with :meth:`from_model`,
    :meth:`from_pretrained` or, for an exported artifact, :func:`hf_ose.embeddings.artifact_encoder`."""

    def __init__(self, hidden_states: HiddenStates, tokenizer: PreTrainedTokenizerBase, pooling: Pooling,
                 input_names: Sequence[str] = _INPUTS) -> None:
        self.hidden_states, self.tokenizer, self.pooling = hidden_states, tokenizer, pooling
        self.input_names = tuple(input_names)

    @classmethod
    def from_model(cls, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, pooling: Pooling) -> SentenceEncoder:
        """An encoder running ``model`` (a base encoder such as ``BertModel``) in PyTorch, in eval mode."""
        def hidden_states(inputs: dict[str, np.ndarray]) -> np.ndarray:
            model.eval()
            with torch.inference_mode():
                return model(**{name: torch.from_numpy(value) for name, value in inputs.items()})[0].float().numpy()

        return cls(hidden_states, tokenizer, pooling, accepted_inputs(model))

    @classmethod
    def from_pretrained(cls, folder: str | Path) -> SentenceEncoder:
        """The sentence-transformers model in ``folder`` (or a Hub id hf-ose resolves), in PyTorch."""
        from transformers import AutoModel, AutoTokenizer

        from ..parent import resolve_model_source

        source = Path(resolve_model_source(folder))
        return cls.from_model(AutoModel.from_pretrained(source), AutoTokenizer.from_pretrained(source),
                              Pooling.from_folder(source))

    def tokenize(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """``texts`` padded to the longest and truncated to the pipeline's length, as int64 arrays."""
        limit = self.pooling.max_seq_length or min(self.tokenizer.model_max_length, 512)
        encoded = self.tokenizer(list(texts), padding=True, truncation=True, max_length=limit, return_tensors="np")
        return {name: np.asarray(encoded[name], dtype=np.int64) for name in self.input_names if name in encoded}

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """The embeddings of ``texts``, in batches of ``batch_size`` (sorted by length, so little is padding)."""
        texts = check_texts(texts)
        order = np.argsort([-len(text) for text in texts], kind="stable")
        vectors: list[np.ndarray] = [np.empty(0)] * len(texts)
        for start in range(0, len(texts), batch_size):
            chosen = order[start:start + batch_size]
            inputs = self.tokenize([texts[k] for k in chosen])
            hidden = torch.from_numpy(np.asarray(self.hidden_states(inputs), dtype=np.float32))
            pooled = self.pooling(hidden, torch.from_numpy(inputs["attention_mask"])).numpy()
            for row, k in enumerate(chosen):
                vectors[k] = pooled[row]
        return np.stack(vectors)


def accepted_inputs(model: PreTrainedModel) -> tuple[str, ...]:
    """The tokenizer outputs ``model.forward`` takes (``token_type_ids`` only where it takes them)."""
    import inspect

    accepted = inspect.signature(model.forward).parameters
    return tuple(name for name in _INPUTS if name in accepted)


def check_texts(texts: Sequence[str]) -> list[str]:
    """``texts`` as a list, refused when empty or holding anything but non-empty strings."""
    if isinstance(texts, str):
        raise EmbeddingError("Pass a list of sentences, not one string.")
    texts = list(texts)
    if not texts:
        raise EmbeddingError("No text to embed: pass at least one sentence.")
    bad = [text for text in texts if not isinstance(text, str) or not text.strip()]
    if bad:
        raise EmbeddingError(f"Every text must be a non-empty string; found {bad[0]!r}. Drop empty rows first.")
    return texts


def cosine_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine similarity of each row of ``a`` with the same row of ``b``."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise EmbeddingError(f"Embeddings of shapes {a.shape} and {b.shape} cannot be compared row by row: they "
                             "must come from models of one embedding width, for the same texts.")
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    return (a * b).sum(axis=1) / np.maximum(norms, 1e-12)

