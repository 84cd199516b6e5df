"""The distillation surrogate: inherit the parent's weights, distil a few steps, report a held-out loss."""

from __future__ import annotations

import math
from functools import partial
from typing import Any, Sequence

import torch
from transformers import AutoTokenizer, PretrainedConfig, PreTrainedModel, PreTrainedTokenizerBase

from ..data import digest_texts, digest_tokenizer, digest_weights, load_texts, padding_tokenizer, tokenize
from ..distillation.losses import DistillationLoss
from ..inheritance import extract_model
from ..torch_context import Batch, seeded, torch_threads
from .settings import DistillationSurrogateSettings, SurrogateError, resolve_settings
from .training import PicklableParent, train_steps


class DistillationSurrogate(PicklableParent):
    """Error objective: the width-free distillation loss of an inherited student after ``settings.steps`` steps.

    ``DistillationSurrogate(parent, texts, settings=None, **overrides)``: the settings
    (:class:`DistillationSurrogateSettings`) with any field overridden by keyword, e.g. ``steps=50``.
    The first ``held_out`` texts form the fixed evaluation batch; training batches of ``batch_size`` cycle
    through the rest. The parent's outputs are computed once and reused for every candidate. The optimiser is
    AdamW **without weight decay** (decay would move even a perfect copy of the parent away from it); dropout
    is off, the inherited token-embedding table is frozen (a few steps barely move it, and its gradient and
    optimiser state would cost more than the rest of a small student), and everything is seeded, so a
    candidate's value is reproducible. With ``calibrate`` the student inherits with activation statistics of
    the first training batch (see :func:`extract_model`). ``threads`` bounds the intra-op threads.
    """

    is_prior = False

    def __init__(
        self,
        parent_model: PreTrainedModel,
        texts: Sequence[str] | Any,
        settings: DistillationSurrogateSettings | None = None,
        *,
        tokenizer: PreTrainedTokenizerBase | None = None,
        loss: DistillationLoss | None = None,
        threads: int | None = None,
        **overrides: Any,
    ) -> None:
        self.settings = settings = resolve_settings(settings, DistillationSurrogateSettings, overrides)
        texts = load_texts(texts)
        if len(texts) < settings.held_out + settings.batch_size:
            raise SurrogateError(
                f"Only {len(texts)} texts: the surrogate needs at least held_out + batch_size = "
                f"{settings.held_out + settings.batch_size} (a fixed evaluation batch and one training batch). "
                "Pass more text."
            )
        self.parent = parent_model.eval()
        self.tokenizer = padding_tokenizer(tokenizer or AutoTokenizer.from_pretrained(parent_model.name_or_path))
        self.loss = loss or DistillationLoss()
        self.threads = threads
        self.name = f"distillation surrogate ({settings.steps} steps)"
        self._digests = {
            "parent": digest_weights(parent_model), "tokenizer": digest_tokenizer(self.tokenizer),
            "texts": digest_texts(texts), "loss": self.loss.fingerprint(),
        }
        self.evaluation = self._tokenize(texts[: settings.held_out])
        pool, size = texts[settings.held_out:], settings.batch_size
        self.batches = [self._tokenize([pool[(s * size + j) % len(pool)] for j in range(size)])
                        for s in range(max(settings.steps, 1))]
        with torch.inference_mode():
            self.parent_outputs = [self._run(self.parent, batch) for batch in self.batches[: settings.steps]]
            self.parent_evaluation = self._run(self.parent, self.evaluation)

    def fingerprint(self) -> dict[str, Any]:
        """The objective's name, digests of the parent, tokenizer and texts, the loss and every setting."""
        return {"objective": type(self).__name__, **self._digests, **self.settings.fingerprint()}

    def __call__(self, config: PretrainedConfig) -> float:
        settings = self.settings
        with torch_threads(self.threads), seeded(settings.seed):
            student = extract_model(self.parent, config, self.batches[0] if settings.calibrate else None).eval()
            student.get_input_embeddings().requires_grad_(False)
            loss_of = partial(self._loss_at, student)
            if not train_steps(student, self.batches[: settings.steps], loss_of, settings.learning_rate):
                return float("nan")
            with torch.inference_mode():
                outputs = self._run(student, self.evaluation)
                value = float(self.loss(outputs, self.parent_evaluation, self.evaluation["attention_mask"]))
        return value if math.isfinite(value) else float("nan")

    def _loss_at(self, student: PreTrainedModel, step: int, batch: Batch) -> torch.Tensor:
        """The student's distillation loss on training batch ``step`` against the parent's stored outputs."""
        return self.loss(self._run(student, batch), self.parent_outputs[step], batch["attention_mask"])

    def _tokenize(self, texts: list[str]) -> Batch:
        return tokenize(self.tokenizer, texts, self.settings.max_length)

    @staticmethod
    def _run(model: PreTrainedModel, batch: Batch) -> Any:
        return model(**batch, output_hidden_states=True)
