"""Search benchmark on the Bort grid over RoBERTa-large.

1. epsilon vs error evaluations spent (and their bound) vs search wall time vs front size, for the FPTAS and
   the FPTAS paper's interval strategy. The error objective is the data-free prior, evaluated for real.
2. The latency predictor: predicted vs measured latency on held-out measured candidates (mean and worst
   relative error), for several sample sizes, measured side by side in one run (interleaved rounds, as the
   search measures).
3. Stability: identical searches, latency measured afresh in each: parent latency, held-out error, front size,
   points shared with the first run, and the W-best point.

Run: python benchmarks/search.py [--test-points 12] [--sample-sizes 8 12 16] [--stability-runs 3]
"""

from __future__ import annotations

import argparse
import platform
import random
import time

import numpy as np
import torch
import transformers

from hf_ose import Objectives, OSEExtractor
from hf_ose.latency import (
    LatencyPredictor, LatencySample, LatencySettings, RoundsMeasurer, choose_sample, cpu_description, measure_latency,
)
from hf_ose.objectives.error import DataFreePrior
from hf_ose.search.fptas import fptas, interval_strategy

EPSILONS = (0.05, 0.1, 0.25, 0.5, 1.0)


def search_table(extractor: OSEExtractor) -> None:
    cheap = extractor.cheap_objectives(progress=False)
    prior = DataFreePrior()
    reference = cheap.parent_cost.params, cheap.latency.parent_latency_ms
    print(f"\n{'strategy':<10}{'epsilon':>8}{'evaluations':>13}{'bound':>7}{'search s':>10}{'front':>7}  W-best")
    for strategy in (fptas, interval_strategy):
        for epsilon in EPSILONS:
            started = time.perf_counter()
            outcome = strategy(cheap.candidates, lambda ks: [prior(extractor.space.config(cheap.archs[k])) for k in ks], epsilon)
            seconds = time.perf_counter() - started

            def w(k: int, errors: dict[int, float] = outcome.errors) -> float:
                c = cheap.candidates[k]
                return (reference[0] - c.p) / reference[0] * (reference[1] - c.i) / reference[1] / errors[k]

            best = max(outcome.front, key=w)
            print(
                f"{strategy.__name__.replace('_strategy', ''):<10}{epsilon:>8}{outcome.evaluations:>13}"
                f"{outcome.evaluation_bound:>7}{seconds:>10.2f}{len(outcome.front):>7}  {cheap.archs[best]}"
            )
    print(f"({len(cheap.candidates)} candidates; exhaustive search evaluates all of them.)")


def predictor_table(extractor: OSEExtractor, sample_sizes: list[int], test_points: int) -> None:
    cheap = extractor.cheap_objectives(progress=False)
    settings = extractor.latency_settings
    flops = [c.flops for c in cheap.costs]
    largest = max(sample_sizes)
    pool = set(choose_sample(flops, largest))
    for n in sample_sizes:
        pool |= set(choose_sample(flops, n))
    rng = random.Random(0)
    test = rng.sample(sorted(set(range(len(flops))) - pool), test_points)
    measurer = RoundsMeasurer(
        lambda arch: measure_latency(extractor.space.config(arch), settings).median_ms, settings.rounds,
        disable_progress=True,
    )
    started = time.perf_counter()
    measurer.ensure([cheap.archs[k] for k in sorted(pool | set(test))])
    measured = {k: measurer.timing(cheap.archs[k]).ms for k in sorted(pool | set(test))}
    seconds = time.perf_counter() - started

    def sample(k: int) -> LatencySample:
        c = cheap.costs[k]
        return LatencySample(cheap.archs[k], c.params, c.effective_params, c.flops, measured[k])

    print(f"\nLatency predictor ({len(measured)} candidates measured in {seconds:.0f} s; test points never used to fit)")
    print(f"{'samples':>8}{'LOO mean':>10}{'LOO worst':>11}{'test mean':>11}{'test worst':>12}  features")
    for n in sample_sizes:
        predictor = LatencyPredictor(settings).fit([sample(k) for k in choose_sample(flops, n)])
        loo = predictor.held_out_errors()
        errors = [
            abs(predictor.predict(cheap.archs[k], cheap.costs[k].params, cheap.costs[k].effective_params, cheap.costs[k].flops)
                - measured[k]) / measured[k]
            for k in test
        ]
        print(
            f"{n:>8}{100 * loo.mean:>9.1f}%{100 * loo.worst:>10.1f}%{100 * np.mean(errors):>10.1f}%"
            f"{100 * np.max(errors):>11.1f}%  {', '.join(predictor.features)}"
        )
    test_ms = sorted(measured[k] for k in test)
    print(f"(test latencies {test_ms[0]:.0f}-{test_ms[-1]:.0f} ms; parent {cheap.latency.parent_latency_ms:.0f} ms)")


def stability_table(objectives: Objectives, runs: int, epsilon: float = 0.1) -> None:
    """Identical searches, each measuring latency afresh: how far the parent's latency, the front and the
    W-best point move between runs."""
    print(f"\nStability: {runs} identical searches (epsilon {epsilon}), latency measured afresh in each")
    print(f"{'run':>4}{'parent ms':>11}{'held-out mean':>15}{'re-measured':>13}{'front':>7}{'shared':>8}  W-best")
    first: set | None = None
    for run in range(1, runs + 1):
        front = OSEExtractor("roberta-large", space="bort", epsilon=epsilon, objectives=objectives).extract(progress=False)
        latency = front.record.latency
        points = {p.architecture for p in front}
        first = points if first is None else first
        print(f"{run:>4}{latency['parent_latency_ms']:>11.1f}{100 * latency['held_out_mean_relative_error']:>14.1f}%"
              f"{len(latency['remeasured']):>13}{len(front):>7}{len(points & first) / len(points | first):>8.0%}"
              f"  {front.best('w').architecture}")
    print("(shared: points in common with run 1, over the union of both fronts)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--test-points", type=int, default=12)
    parser.add_argument("--sample-sizes", type=int, nargs="+", default=[8, 12, 16])
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--stability-runs", type=int, default=3, help="identical searches to compare (0: skip)")
    args = parser.parse_args()
    print(f"CPU: {cpu_description()}")
    print(f"Python {platform.python_version()}, torch {torch.__version__}, transformers {transformers.__version__}, "
          f"{torch.get_num_threads()} threads")
    objectives = Objectives(latency=LatencySettings(seq_len=args.seq_len))
    extractor = OSEExtractor("roberta-large", space="bort", objectives=objectives)
    started = time.perf_counter()
    extractor.cheap_objectives(progress=False)
    print(f"Bort grid over RoBERTa-large: {len(extractor.space)} candidates; params, FLOPs and latency "
          f"(12 measured + parent, the rest predicted) in {time.perf_counter() - started:.0f} s")
    search_table(extractor)
    predictor_table(extractor, args.sample_sizes, args.test_points)
    if args.stability_runs:
        stability_table(objectives, args.stability_runs)


if __name__ == "__main__":
    main()
