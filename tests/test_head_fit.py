"""The linear-probe start of a new classification head, on encoder and decoder classifiers."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
import transformers as T

from hf_ose.surrogates.head import fit_linear_head, output_layer
from hf_ose.torch_context import Batch

from .families import FAMILY_CONFIGS
from .testing_utils import slow



def _batches(vocab_size: int, pad_token_id: int | None, count: int = 3, size: int = 16) -> list[Batch]:
    """Right-padded random token batches whose label is whether token 5 occurs (a linearly readable feature)."""
    generator = torch.Generator().manual_seed(0)
    batches = []
    for _ in range(count):
        ids = torch.randint(10, vocab_size, (size, 12), generator=generator)
        ids[: size // 2, 3] = 5
        lengths = torch.randint(6, 13, (size,), generator=generator)
        mask = (torch.arange(12)[None, :] < lengths[:, None]).long()
        if pad_token_id is not None:
            ids = ids.masked_fill(mask == 0, pad_token_id)
        batches.append({"input_ids": ids, "attention_mask": mask, "labels": (ids == 5).any(-1).long()})
    return batches


def _loss(model: torch.nn.Module, batches: list[Batch]) -> float:
    with torch.inference_mode():
        return sum(
            float(F.cross_entropy(model(**{k: v for k, v in b.items() if k != "labels"}).logits, b["labels"]))
            for b in batches
        ) / len(batches)


@slow
@pytest.mark.parametrize(
    ("family", "layer_name"), [("bert", "classifier"), ("roberta", "classifier.out_proj"), ("gpt2", "score"),
                               ("llama", "score")]
)
def test_the_fitted_head_reads_the_features_and_lowers_the_loss(family: str, layer_name: str) -> None:
    config = FAMILY_CONFIGS[family]()
    config.num_labels, config.pad_token_id = 2, 0
    torch.manual_seed(0)
    model = T.AutoModelForSequenceClassification.from_config(config).train()
    assert output_layer(model, 2) is model.get_submodule(layer_name)
    batches = _batches(config.vocab_size, config.pad_token_id)
    frozen = {name: p.clone() for name, p in model.named_parameters() if layer_name not in name}
    before = _loss(model.eval(), batches)
    model.train()
    fit_linear_head(model, batches, num_labels=2)
    assert model.training  # the caller's mode is restored
    assert _loss(model.eval(), batches) < before - 0.1
    assert all(torch.equal(p, frozen[name]) for name, p in model.named_parameters() if name in frozen)


def test_a_model_without_such_a_layer_is_refused() -> None:
    with pytest.raises(ValueError, match="no linear layer with 7 outputs"):
        output_layer(torch.nn.Sequential(torch.nn.Linear(4, 2)), 7)
