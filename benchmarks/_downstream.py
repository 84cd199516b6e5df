"""The downstream check of ``inheritance.py`` and ``task_variants.py`` (a helper module, not a benchmark): every
student inherited, given a classification head and fine-tuned through :mod:`hf_ose.finetune` over several
seeds, scored on the test split; predictors of error judged against those accuracies."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from transformers import PretrainedConfig, PreTrainedModel, PreTrainedTokenizerBase

from _students import Data, Labelled, Student, log, pair_agreement, percent, rank_correlation
from hf_ose.finetune import accuracy, fine_tune_classifier, with_classification_head
from hf_ose.inheritance import extract_model
from hf_ose.torch_context import Batch

PRIOR = "data-free prior"


@dataclass(frozen=True)
class FineTuning:
    epochs: int
    lr: float
    batch_size: int
    max_length: int
    warmup: float = 0.1
    weight_decay: float = 0.01


def fine_tune(parent: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, config: PretrainedConfig,
              calibration: Batch, train: Labelled, test: Labelled, settings: FineTuning, seed: int) -> float:
    """Inherit (calibrated) under ``seed``, add a classification head, fine-tune on ``train``
    (:func:`fine_tune_classifier`, batch order from ``seed``) and return the accuracy on ``test``."""
    torch.manual_seed(seed)
    model = with_classification_head(extract_model(parent, config, calibration), config, num_labels=2)
    fine_tune_classifier(model, [t for t, _ in train], [y for _, y in train], tokenizer, epochs=settings.epochs,
                         batch_size=settings.batch_size, lr=settings.lr, seed=seed, max_length=settings.max_length,
                         warmup=settings.warmup, weight_decay=settings.weight_decay)
    return accuracy(model, tokenizer, [t for t, _ in test], [y for _, y in test], max_length=settings.max_length)


def fine_tune_all(parent: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, students: Sequence[Student],
                  calibration: Batch, data: Data, settings: FineTuning, seeds: Sequence[int]) -> np.ndarray:
    """Test accuracy, students x seeds."""
    results = np.zeros((len(students), len(seeds)))
    for k, s in enumerate(students):
        for j, seed in enumerate(seeds):
            started = time.perf_counter()
            results[k, j] = fine_tune(parent, tokenizer, s.config, calibration, data.fine_tuning_rows(j), data.test,
                                      settings, seed)
            log(f"  fine-tuned {s.label} seed {seed}: {results[k, j]:.4f} ({time.perf_counter() - started:.0f} s)")
    return results


def decisive_pairs(accuracies: np.ndarray, pairs: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """Pairs whose mean accuracies differ by more than two standard errors of the difference, each student's
    standard error being that of its mean over seeds (std with ddof=1 over sqrt(seeds))."""
    mean = accuracies.mean(axis=1)
    se = accuracies.std(axis=1, ddof=1) / math.sqrt(accuracies.shape[1])
    return [(a, b) for a, b in pairs if abs(mean[a] - mean[b]) > 2 * math.hypot(se[a], se[b])]


def downstream_section(accuracies: np.ndarray, predictors: dict[str, list[float]], students: Sequence[Student],
                       pairs: Sequence[tuple[int, int]], data: Data, settings: FineTuning) -> None:
    seeds = accuracies.shape[1]
    mean, spread = accuracies.mean(axis=1), accuracies.std(axis=1, ddof=1)
    subsets = (f"its own {len(data.per_seed[0])} training rows per seed" if data.per_seed
               else f"{len(data.train)} training rows")
    print(f"\n3. Downstream: SST-2 fine-tuning on {subsets}, {settings.epochs} epoch(s), "
          f"lr {settings.lr:g}, batch {settings.batch_size}, max_length {settings.max_length}, {seeds} seeds; "
          f"calibrated inheritance + new classification head (no distillation first); "
          f"test split ({len(data.test)} rows, never used for selection)")
    print(f"{'student':<15}{'params':>12}{'test acc mean':>15}{'std':>8}{'SE':>8}  per seed")
    for k, s in enumerate(students):
        print(f"{s.label:<15}{s.params:>12,}{mean[k]:>15.4f}{spread[k]:>8.4f}{spread[k] / math.sqrt(seeds):>8.4f}  "
              + " ".join(f"{v:.4f}" for v in accuracies[k]))
    decisive = decisive_pairs(accuracies, pairs)
    print(f"\nPredicting test accuracy (error vs accuracy, so a good predictor has Spearman near +1 on -error). "
          f"Similar-size pairs: {len(pairs)}; decisive (mean accuracies differ by > 2 SE of the difference, "
          f"SE = each student's std over seeds / sqrt({seeds})): {len(decisive)}")
    print(f"{'predictor':<28}{'Spearman':>10}{'decisive pairs':>16}{'share':>8}{'all pairs':>11}{'share':>8}")
    shares = {}
    for name, errors in predictors.items():
        negated = [-e for e in errors]
        rho = rank_correlation(negated, mean)
        right, total = pair_agreement(negated, mean, decisive)
        right_all, total_all = pair_agreement(negated, mean, pairs)
        shares[name] = right / total if total else float("nan")
        print(f"{name:<28}{rho:>10.3f}{f'{right}/{total}':>16}{percent(right, total):>8}"
              f"{f'{right_all}/{total_all}':>11}{percent(right_all, total_all):>8}")
    prior = shares.pop(PRIOR)
    winners = [name for name, share in shares.items() if share > prior]
    if not decisive:
        print("No similar-size pair differs decisively in accuracy: the surrogates cannot be told from the prior.")
    elif winners:
        print(f"Beats the parameter prior ({prior:.0%}) on decisive similar-size pairs: {', '.join(winners)}.")
    else:
        print(f"No surrogate beats the parameter prior on decisive similar-size pairs: prior {prior:.0%}, "
              + ", ".join(f"{n} {v:.0%}" for n, v in shares.items()) + ".")
