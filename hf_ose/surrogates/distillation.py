"""The distillation surrogate: inherit the parent's weights, distil a few steps, report a held-out loss."""

from __future__ import annotations

import math
from typing import Any, Sequence

import torch
from transformers import AutoTokenizer, PretrainedConfig, PreTrainedModel, PreTrainedTokenizerBase

from ..distillation.losses import DistillationLoss
from ..inheritance import extract_model
from .data import SurrogateDataError, digest_texts, digest_weights, load_texts, padding_tokenizer, tokenize
from ..torch_context import seeded, torch_threads
from .training import PicklableParent, train_steps


class DistillationSurrogate(PicklableParent):
    """Error objective: the width-free distillation loss of an inherited student after ``steps`` steps.

    The first ``held_out`` texts form the fixed evaluation batch; training batches of ``batch_size`` cycle
    through the rest. The parent's outputs are computed once and reused for every candidate. The optimiser is
    AdamW **without weight decay** (decay would move even a perfect copy of the parent away from it); dropout
    is off, the inherited token-embedding table is frozen (a few steps barely move it, and its gradient and
    optimiser state would cost more than the rest of a small student), and everything is seeded, so a
    candidate's value is reproducible. With ``calibrate=True`` the
    student inherits with activation statistics of one training batch (see :func:`extract_model`).
    """

    is_prior = False

    def __init__(
        self,
        parent_model: PreTrainedModel,
        texts: Sequence[str] | Any,
        *,
        tokenizer: PreTrainedTokenizerBase | None = None,
        steps: int = 25,
        batch_size: int = 16,
        held_out: int = 64,
        max_length: int = 64,
        learning_rate: float = 1e-4,
        loss: DistillationLoss | None = None,
        calibrate: bool = True,
        seed: int = 0,
        threads: int | None = None,
    ) -> None:
        if steps < 0 or batch_size < 1 or held_out < 2:
            raise ValueError("steps must be >= 0, batch_size >= 1 and held_out >= 2.")
        texts = load_texts(texts)
        if len(texts) < held_out + batch_size:
            raise SurrogateDataError(
                f"Only {len(texts)} texts: the surrogate needs at least held_out + batch_size = "
                f"{held_out + batch_size} (a fixed evaluation batch and one training batch). Pass more text."
            )
        self.parent = parent_model.eval()
        self.tokenizer = padding_tokenizer(tokenizer or AutoTokenizer.from_pretrained(parent_model.name_or_path))
        self.steps, self.learning_rate, self.seed, self.threads = steps, learning_rate, seed, threads
        self.calibrate = calibrate
        self.loss = loss or DistillationLoss()
        self.name = f"distillation surrogate ({steps} steps)"
        self._settings = {
            "objective": "DistillationSurrogate", "parent": digest_weights(parent_model), "texts": digest_texts(texts),
            "steps": steps, "batch_size": batch_size, "held_out": held_out, "max_length": max_length,
            "learning_rate": learning_rate,
            "loss": {k: v for k, v in vars(self.loss).items() if not k.startswith("_") and k != "training"},
            "calibrate": calibrate, "seed": seed,
        }
        self.evaluation = tokenize(self.tokenizer, texts[:held_out], max_length)
        pool = texts[held_out:]
        self.batches = [
            tokenize(self.tokenizer, [pool[(s * batch_size + j) % len(pool)] for j in range(batch_size)], max_length)
            for s in range(max(steps, 1))
        ]
        with torch.inference_mode():
            self.parent_outputs = [self._run(self.parent, batch) for batch in self.batches[:steps]]
            self.parent_evaluation = self._run(self.parent, self.evaluation)

    def fingerprint(self) -> dict[str, Any]:
        return self._settings

    def __call__(self, config: PretrainedConfig) -> float:
        with torch_threads(self.threads), seeded(self.seed):
            student = extract_model(self.parent, config, self.batches[0] if self.calibrate else None).eval()
            student.get_input_embeddings().requires_grad_(False)

            def loss_of(step: int, batch: dict[str, torch.Tensor]) -> torch.Tensor:
                return self.loss(self._run(student, batch), self.parent_outputs[step], batch["attention_mask"])

            if not train_steps(student, self.batches[: self.steps], loss_of, self.learning_rate):
                return float("nan")
            with torch.inference_mode():
                outputs = self._run(student, self.evaluation)
                value = float(self.loss(outputs, self.parent_evaluation, self.evaluation["attention_mask"]))
        return value if math.isfinite(value) else float("nan")

    @staticmethod
    def _run(model: PreTrainedModel, batch: dict[str, torch.Tensor]) -> Any:
        return model(**batch, output_hidden_states=True)
