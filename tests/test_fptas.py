"""Property tests of the search strategies on synthetic objectives that satisfy the monotonicity assumption."""

import itertools
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hf_ose.architecture import Architecture
from hf_ose.search.fptas import Candidate, evaluation_bound, fptas, interval_strategy, pareto_indices
from .testing_utils import slow


@st.composite
def problems(draw):
    """A grid of architectures with increasing p and i and an error that never rises with depth, hidden
    or intermediate size (heads may move it either way)."""
    depths = draw(st.lists(st.integers(1, 12), min_size=1, max_size=4, unique=True))
    hiddens = draw(st.lists(st.sampled_from([64, 128, 192, 256, 384, 512]), min_size=1, max_size=3, unique=True))
    inters = draw(st.lists(st.sampled_from([128, 256, 512, 768, 1024]), min_size=1, max_size=3, unique=True))
    heads = draw(st.lists(st.sampled_from([1, 2, 4]), min_size=1, max_size=2, unique=True))
    vocab = draw(st.integers(0, 5000))
    seq = draw(st.integers(1, 256))
    drops = {
        name: draw(st.lists(st.floats(0, 1), min_size=30, max_size=30)) for name in ("depth", "hidden", "intermediate")
    }
    head_effect = {h: draw(st.floats(0, 0.5)) for h in heads}
    candidates, errors = [], []
    for d, h, i, a in itertools.product(depths, hiddens, inters, heads):
        arch = Architecture(d, a, h, i)
        p = vocab * h + d * (4 * h * h + 2 * h * i) + 1
        cost = d * seq * (4 * h * h + 2 * h * i + seq * h) + 1
        # Decreasing in each monotone parameter: subtract a non-negative amount per rank of the value.
        e = 10.0 + head_effect[a]
        e -= sum(drops["depth"][:d]) / 3 + sum(drops["hidden"][: h // 64]) / 3 + sum(drops["intermediate"][: i // 128]) / 3
        candidates.append(Candidate(arch, float(p), float(cost)))
        errors.append(e)
    return candidates, errors


def run(strategy, candidates, errors, epsilon, batch_size=1):
    calls = []

    def evaluate(batch):
        assert len(batch) <= batch_size or strategy is interval_strategy
        calls.extend(batch)
        return [errors[k] for k in batch]

    return strategy(candidates, evaluate, epsilon, batch_size=batch_size), calls


def covers(y, x, candidates, errors, epsilon):
    cy, cx = candidates[y], candidates[x]
    return cy.p <= (1 + epsilon) * cx.p and cy.i <= (1 + epsilon) * cx.i and errors[y] <= errors[x]


@slow
@settings(max_examples=150, deadline=None)
@given(problems(), st.floats(0.01, 1.0), st.sampled_from([1, 1, 3]))
def test_fptas_returned_set_epsilon_covers_every_candidate(problem, epsilon, batch_size):
    candidates, errors = problem
    outcome, calls = run(fptas, candidates, errors, epsilon, batch_size)
    assert len(calls) == len(set(calls)) == outcome.evaluations
    assert set(outcome.front) <= set(outcome.errors)
    for x in range(len(candidates)):
        assert any(covers(y, x, candidates, errors, epsilon) for y in outcome.front), f"candidate {x} not covered"


@slow
@settings(max_examples=150, deadline=None)
@given(problems(), st.floats(0.01, 1.0), st.sampled_from([1, 1, 4]))
def test_fptas_evaluations_never_exceed_the_stated_bound(problem, epsilon, batch_size):
    candidates, errors = problem
    outcome, calls = run(fptas, candidates, errors, epsilon, batch_size)
    assert len(calls) <= outcome.evaluation_bound == evaluation_bound(candidates, epsilon) <= len(candidates)


@settings(max_examples=100, deadline=None)
@given(problems())
def test_fptas_with_epsilon_near_zero_returns_the_exact_front(problem):
    candidates, errors = problem
    outcome, _ = run(fptas, candidates, errors, 1e-9)
    exhaustive = pareto_indices(candidates, dict(enumerate(errors)))
    objectives = lambda ks: {(candidates[k].p, candidates[k].i, errors[k]) for k in ks}
    assert objectives(outcome.front) == objectives(exhaustive)


def test_fptas_saves_evaluations_when_dominators_share_a_cell():
    # Depth barely changes size here (a large vocabulary), so deeper models cover shallower ones.
    candidates = [Candidate(Architecture(d, 4, 256, 512), p=1e6 + d, i=100.0 + d) for d in range(1, 9)]
    errors = [1.0 / d for d in range(1, 9)]
    outcome, calls = run(fptas, candidates, errors, 0.5)
    assert calls == [7] and outcome.front == [7]
    assert all(outcome.covered_by[k] == 7 for k in range(7))


def test_non_finite_error_is_reported_and_the_search_goes_on():
    candidates = [Candidate(Architecture(1, 1, 64, 64 * k), p=k, i=k) for k in range(1, 5)]
    errors = [4.0, float("nan"), 2.0, 1.0]
    outcome, _ = run(fptas, candidates, errors, 1e-6)
    assert outcome.failed == {1: "non-finite error nan"}
    assert 1 not in outcome.front and outcome.front


@pytest.mark.parametrize("epsilon", [0, -0.1, 1.5, float("nan")])
def test_epsilon_outside_the_unit_interval_is_refused(epsilon):
    with pytest.raises(ValueError, match=r"epsilon must be in \(0, 1\]"):
        fptas([Candidate(Architecture(1, 1, 1, 1), 1, 1)], lambda ks: [1.0], epsilon)


def test_interval_strategy_evaluates_one_candidate_per_interval():
    candidates = [Candidate(Architecture(d, 1, 64, 64), p=d, i=10 - d) for d in range(1, 11)]
    outcome, calls = run(interval_strategy, candidates, [1.0 / d for d in range(1, 11)], 0.25)
    assert len(calls) == math.ceil(1 / 0.25) == outcome.evaluation_bound
    # Each interval of p gives its cheapest (lowest i) candidate: the largest p within the interval.
    assert calls == [2, 5, 7, 9]


@settings(max_examples=50, deadline=None)
@given(problems(), st.floats(0.01, 1.0))
def test_monotone_objectives_show_no_violation(problem, epsilon):
    candidates, errors = problem
    outcome, _ = run(fptas, candidates, errors, epsilon)
    assert outcome.monotonicity_violations == []


def test_violations_of_the_assumption_are_reported():
    # Deeper is worse here: the order's assumption fails and the search must say so, not hide it.
    candidates = [Candidate(Architecture(d, 1, 64, 64), p=d, i=d) for d in (1, 2, 3)]
    outcome, _ = run(fptas, candidates, [1.0, 2.0, 3.0], 1e-6)
    assert outcome.comparable_pairs == 3
    assert sorted(outcome.monotonicity_violations) == [(1, 0), (2, 0), (2, 1)]
