"""Each task kind's metric against known values: seqeval's documented example, hand-counted classification scores,
scipy's correlations, and the refusals."""

from __future__ import annotations

import math

import numpy as np
import pytest
from transformers import EvalPrediction

from hf_ose.metrics import MetricError, compute_task_metrics, trainer_metrics

TAGS = ("O", "B-MISC", "I-MISC", "B-PER", "I-PER")


def _ids(sentences: list[list[str]]) -> list[list[int]]:
    return [[TAGS.index(tag) for tag in sentence] for sentence in sentences]


# seqeval's README example (and evaluate's seqeval card): precision, recall and F1 0.50, accuracy 0.80
REFERENCES = _ids([["O", "O", "O", "B-MISC", "I-MISC", "I-MISC", "O"], ["B-PER", "I-PER", "O"]])
PREDICTIONS = _ids([["O", "O", "B-MISC", "I-MISC", "I-MISC", "I-MISC", "O"], ["B-PER", "I-PER", "O"]])


def test_entity_scores_match_seqevals_documented_example():
    scores = compute_task_metrics("token-classification", PREDICTIONS, REFERENCES, TAGS)
    assert scores == pytest.approx({"precision": 0.5, "recall": 0.5, "f1": 0.5, "accuracy": 0.8})


def test_positions_labelled_minus_100_are_dropped_and_logits_reduced_by_arg_max():
    width = 9  # padded as a Trainer pads: -100 in the references, anything in the predictions
    references = np.full((2, width), -100)
    logits = np.zeros((2, width, len(TAGS)))
    for row, (truth, guess) in enumerate(zip(REFERENCES, PREDICTIONS)):
        positions = range(1, 1 + len(truth))  # position 0 is a special token
        references[row, list(positions)] = truth
        logits[row, list(positions), guess] = 1.0
    logits[:, 0, 1] = 5.0  # a confident B-MISC on the special token: ignored
    scores = compute_task_metrics("token-classification", logits, references, TAGS)
    assert scores == pytest.approx({"precision": 0.5, "recall": 0.5, "f1": 0.5, "accuracy": 0.8})


def test_classification_accuracy_and_macro_f1_by_hand():
    scores = compute_task_metrics("classification", [0, 1, 1, 2], [0, 1, 2, 2])
    # per class F1: 0 -> 1, 1 -> 2*1/(2+1), 2 -> 2*1/(1+2)
    assert scores == pytest.approx({"accuracy": 0.75, "macro_f1": (1 + 2 / 3 + 2 / 3) / 3})
    logits = np.eye(3)[[0, 1, 1, 2]]
    assert compute_task_metrics("classification", logits, [0, 1, 2, 2]) == scores


def test_correlations_are_scipys_for_regression_and_embedding_similarity():
    from scipy.stats import pearsonr

    predicted, scores = [0.1, 0.4, 0.35, 0.8], [0.0, 2.0, 3.0, 5.0]
    for kind in ("regression", "embedding"):
        result = compute_task_metrics(kind, np.array(predicted)[:, None], scores)
        assert result["pearson"] == pytest.approx(pearsonr(predicted, scores)[0])
        assert result["spearman"] == pytest.approx(0.8)  # one swapped pair of four: 1 - 6*2/(4*15)
    constant = compute_task_metrics("regression", [1.0, 1.0, 1.0], [0.0, 1.0, 2.0])
    assert math.isnan(constant["pearson"]) and math.isnan(constant["spearman"])


def test_trainer_metrics_read_an_eval_prediction():
    regression = trainer_metrics("regression")(EvalPrediction(np.array([[0.1], [0.5], [0.9]]), np.array([1., 2., 3.])))
    assert regression == pytest.approx({"pearson": 1.0, "spearman": 1.0})
    tags = trainer_metrics("token-classification", TAGS)
    assert tags(EvalPrediction((np.array(PREDICTIONS[1:]), None), np.array(REFERENCES[1:])))["f1"] == 1.0


@pytest.mark.parametrize(("kind", "predictions", "references", "names", "message"), [
    ("ranking", [1], [1], None, r"Unknown task kind 'ranking': use one of classification, regression"),
    ("classification", [0, 1], [0, 1, 1], None, r"shape \(2,\) against references of shape \(3,\)"),
    ("regression", [0.5], [1.0], None, "at least 2 scored rows"),
    ("token-classification", [[0]], [[0]], None, "pass label_names"),
    ("token-classification", [[7]], [[0]], TAGS, r"Tag id 7 in sentence 0 is outside the 5 tags"),
    ("token-classification", [[0, 0]], [[0]], TAGS, "Sentence 0 has 2 predicted tags for 1 references"),
])
def test_unscorable_inputs_are_refused_naming_the_fix(kind, predictions, references, names, message):
    with pytest.raises(MetricError, match=message):
        compute_task_metrics(kind, predictions, references, names)
