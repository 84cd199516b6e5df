import statistics

import pytest

from hf_ose import LatencySettings, Objectives, OSEExtractor
from hf_ose.budgets import Budget, BudgetError

GRID = {"depth": [1, 2, 3, 4, 6], "hidden": [192, 384], "intermediate": [768, 1536]}


@pytest.fixture(scope="module")
def front(minilm_path):
    """A real front: the data-free prior over a small grid of the real parent, all-MiniLM-L6-v2."""
    objectives = Objectives(latency=LatencySettings(seq_len=32, warmup=1, repeats=3, on_noise="warn"), latency_samples=6)
    with pytest.warns(UserWarning, match="AB.nC property does not hold"):
        return OSEExtractor(minilm_path, space=GRID, epsilon=0.1, objectives=objectives).extract(progress=False)


def test_the_lowest_error_point_within_a_latency_size_or_speedup_budget(front):
    assert len(front) >= 4
    t = front.reference
    cases = [
        ({"max_latency_ms": statistics.median(p.latency_ms for p in front)}, lambda p, v: p.latency_ms <= v),
        ({"min_speedup": statistics.median(p.speedup(t) for p in front)}, lambda p, v: p.speedup(t) >= v),
        ({"max_params": statistics.median(p.params for p in front)}, lambda p, v: p.params <= v),
    ]
    for budget, meets in cases:
        (value,) = budget.values()
        within = [p for p in front if meets(p, value)]
        chosen = front.choose(**budget)
        assert meets(chosen, value) and chosen.error == min(p.error for p in within), budget


def test_the_fastest_point_within_an_error_budget_relative_to_the_parent(front):
    parent_error = front.reference.error
    assert parent_error is not None and parent_error <= min(p.error for p in front)
    increase = statistics.median(p.error for p in front) - parent_error
    chosen = front.choose(max_error_increase=increase)
    within = [p for p in front if p.error <= parent_error + increase]
    assert chosen.latency_ms == min(p.latency_ms for p in within)
    # A tight error budget keeps much more of the model than Bort's W-coefficient does.
    tight = front.choose(max_error_increase=0.05 * (max(p.error for p in front) - parent_error))
    assert tight.params > front.best("w").params


def test_budgets_combine(front):
    limit = statistics.median(p.params for p in front)
    chosen = front.choose(max_params=limit, min_speedup=1.0)
    assert chosen.params <= limit and chosen.speedup(front.reference) >= 1.0


def test_a_budget_no_point_meets_names_the_closest_point(front):
    smallest = min(front, key=lambda p: p.params)
    with pytest.raises(BudgetError) as raised:
        front.choose(max_params=smallest.params / 2)
    message = str(raised.value)
    assert f"The closest is {smallest.architecture} " in message
    assert "misses max_params by 100%" in message and "Loosen the budget" in message
    with pytest.raises(BudgetError, match=r"No point of the front meets min_speedup=1e\+06, max_error_increase=0"):
        front.choose(min_speedup=1e6, max_error_increase=0)


@pytest.mark.parametrize("limits, message", [
    ({}, "Give at least one budget"),
    ({"max_latency_ms": "5"}, r"max_latency_ms must be a finite number, got '5' \(str\)"),
    ({"max_params": -1}, "max_params must be positive"),
    ({"min_speedup": float("nan")}, "min_speedup must be a finite number"),
    ({"max_error_increase": -0.1}, "max_error_increase must be 0 or more"),
])
def test_malformed_budgets_are_refused(limits, message):
    with pytest.raises(BudgetError, match=message):
        Budget(**limits)
