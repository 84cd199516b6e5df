"""Width-free distillation losses: zero for identical models, positive otherwise, defined across widths."""

from __future__ import annotations

import pytest
import torch
import transformers as T
from transformers.modeling_outputs import BaseModelOutput, MaskedLMOutput

from hf_ose.distillation import DistillationLoss, embedding_similarity_loss, logits_kl_loss, relation_loss


def hidden(width: int = 32, seed: int = 0) -> torch.Tensor:
    return torch.randn(4, 7, width, generator=torch.Generator().manual_seed(seed))


MASK = torch.tensor([[1] * 7, [1] * 5 + [0] * 2, [1] * 3 + [0] * 4, [1] * 7])


@pytest.mark.parametrize("term", [embedding_similarity_loss, relation_loss])
def test_hidden_terms_are_zero_for_identical_and_positive_for_different(term) -> None:
    x = hidden()
    assert float(term(x, x, MASK)) == pytest.approx(0.0, abs=1e-6)
    assert float(term(hidden(seed=1), x, MASK)) > 1e-3


def test_terms_work_across_widths_and_are_zero_for_an_equivalent_wider_student() -> None:
    """A student of twice the width that duplicates each feature (scaled by 2**-0.25) has the parent's
    relation matrices and sentence-embedding geometry exactly."""
    parent = hidden(32)
    student = parent.repeat_interleave(2, dim=-1) * 2**-0.25
    assert float(embedding_similarity_loss(student, parent, MASK)) == pytest.approx(0.0, abs=1e-6)
    assert float(relation_loss(student, parent, MASK, relation_heads=4)) == pytest.approx(0.0, abs=1e-5)
    narrow = hidden(24, seed=2)
    for term in (embedding_similarity_loss, relation_loss):
        assert torch.isfinite(term(narrow, parent, MASK)) and float(term(narrow, parent, MASK)) > 0


def test_embedding_term_ignores_rotation_scale_and_padding() -> None:
    parent = hidden(32)
    rotation = torch.linalg.qr(torch.randn(32, 32, generator=torch.Generator().manual_seed(3)))[0]
    noisy = parent.clone()
    noisy[MASK == 0] = 100.0
    assert float(embedding_similarity_loss(3.0 * parent @ rotation, parent, MASK)) == pytest.approx(0.0, abs=1e-6)
    assert float(embedding_similarity_loss(noisy, parent, MASK)) == pytest.approx(0.0, abs=1e-6)
    assert float(relation_loss(noisy, parent, MASK)) == pytest.approx(0.0, abs=1e-5)


def test_logits_kl_is_bort_term() -> None:
    logits = torch.randn(4, 7, 11, generator=torch.Generator().manual_seed(4))
    other = torch.randn(4, 7, 11, generator=torch.Generator().manual_seed(5))
    assert float(logits_kl_loss(logits, logits, MASK)) == pytest.approx(0.0, abs=1e-6)
    kl = torch.nn.functional.kl_div(
        torch.log_softmax(other / 2, -1), torch.log_softmax(logits / 2, -1), log_target=True, reduction="none"
    ).sum(-1)
    expected = 4 * (kl * MASK).sum() / MASK.sum()
    assert float(logits_kl_loss(other, logits, MASK, temperature=2.0)) == pytest.approx(float(expected), rel=1e-5)
    with pytest.raises(ValueError, match="same output size"):
        logits_kl_loss(other[..., :5], logits)


def test_distillation_loss_combines_terms_on_model_outputs() -> None:
    parent_out = MaskedLMOutput(logits=torch.randn(4, 7, 11), hidden_states=(hidden(32),))
    same = DistillationLoss()(parent_out, parent_out, MASK)
    assert float(same) == pytest.approx(0.0, abs=1e-5)
    student_out = MaskedLMOutput(logits=torch.randn(4, 7, 11), hidden_states=(hidden(24, seed=1),))
    terms = DistillationLoss().terms(student_out, parent_out, MASK)
    assert set(terms) == {"embedding", "relation", "logits"} and all(float(v) > 0 for v in terms.values())
    weighted = DistillationLoss(embedding_weight=1.0, relation_weight=2.0, logits_weight=0.5)(student_out, parent_out, MASK)
    assert float(weighted) == pytest.approx(float(terms["embedding"] + 2 * terms["relation"] + 0.5 * terms["logits"]), rel=1e-5)
    with pytest.raises(ValueError, match="output_hidden_states=True"):
        DistillationLoss()(BaseModelOutput(), parent_out, MASK)


def test_distillation_loss_between_a_model_and_a_narrower_shallower_student() -> None:
    torch.manual_seed(0)
    parent = T.BertModel(T.BertConfig(vocab_size=50, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64)).eval()
    student = T.BertModel(T.BertConfig(vocab_size=50, hidden_size=24, num_hidden_layers=1, num_attention_heads=2, intermediate_size=48)).eval()
    batch = {"input_ids": torch.randint(0, 50, (4, 7)), "attention_mask": MASK}
    with torch.no_grad():
        p, s = (m(**batch, output_hidden_states=True) for m in (parent, student))
    loss = DistillationLoss()
    assert float(loss(p, p, MASK)) == pytest.approx(0.0, abs=1e-5)
    assert float(loss(s, p, MASK)) > 0
