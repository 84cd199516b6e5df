"""The one registry mechanism (hf_ose.plugins.Registry) behind runtimes, backends, families, samplers and
search strategies: names, duplicates, overwrite, removal, built-ins and entry points loaded on first use."""

from __future__ import annotations

import warnings
from importlib import metadata

import pytest
import transformers as T

import hf_ose.search as search
from hf_ose import LatencySettings, Objectives, OSEExtractor
from hf_ose.agora.samplers import SAMPLER_REGISTRY
from hf_ose.exceptions import HfOseError
from hf_ose.plugins import Registry
from hf_ose.search import STRATEGY_REGISTRY, SearchOutcome, UnknownStrategyError, register_strategy

GROUP = "hf_ose.tests_widgets"


class WidgetError(HfOseError, ValueError):
    """Raised by the test registry."""


class Widget:
    name = "widget"


def widgets(**options) -> Registry[object]:
    return Registry(kind="widget", error=WidgetError, register_call="tests.register_widget", **options)


def fake_entry_points(monkeypatch: pytest.MonkeyPatch, *entries: tuple[str, str]) -> None:
    points = [metadata.EntryPoint(name=name, value=value, group=GROUP) for name, value in entries]
    monkeypatch.setattr(metadata, "entry_points", lambda *, group: [p for p in points if p.group == group])


def test_a_taken_name_is_refused_unless_overwrite_and_the_same_entry_registers_again() -> None:
    registry, first, second = widgets(), Widget(), Widget()
    assert registry.register(first) is first and registry.get("widget") is first
    assert registry.register(first) is first  # the same entry again: nothing changes
    with pytest.raises(WidgetError, match=r"widget named 'widget' is already registered.*overwrite=True"):
        registry.register(second)
    assert registry.get("widget") is first
    assert registry.register(second, overwrite=True) is second and registry.get("widget") is second
    assert registry.register(first, "other") is first and registry.names() == ["other", "widget"]


def test_an_unknown_name_lists_the_choices_and_the_register_call() -> None:
    registry = widgets()
    registry.register(Widget())
    with pytest.raises(WidgetError, match=r"Unknown widget 'gadget'; choose one of \['widget'\].*tests.register_widget"):
        registry.get("gadget")
    with pytest.raises(WidgetError, match="Unknown widget 'gadget'"):
        registry.check_name("gadget")
    with pytest.raises(WidgetError, match="has no string `name`.*pass name="):
        registry.register(object())


def test_unregister_removes_and_view_is_read_only_and_live() -> None:
    registry = widgets()
    view = registry.view()
    registry.register(Widget())
    assert list(view) == ["widget"]
    with pytest.raises(TypeError):
        view["x"] = Widget()  # type: ignore[index]
    assert isinstance(registry.unregister("widget"), Widget) and "widget" not in registry and not view
    with pytest.raises(WidgetError, match="No widget named 'widget' is registered"):
        registry.unregister("widget")


def test_a_class_registry_takes_subclasses_of_its_base_only() -> None:
    registry = widgets(base=Widget)

    class Gear(Widget):
        name = "gear"

    assert registry.register(Gear) is Gear
    with pytest.raises(WidgetError, match="tests.register_widget takes a Widget subclass"):
        registry.register(Gear())


def test_built_ins_and_entry_points_are_listed_and_loaded_on_first_use(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_entry_points(monkeypatch, ("plugged", "tests.test_plugins:Widget"), ("broken", "no_such_module_x:Widget"))
    registry = widgets(group=GROUP, builtin={"shipped": "tests.test_plugins:Widget"})
    assert registry.names() == ["broken", "plugged", "shipped"] and registry.view() == {}
    assert "plugged" in registry and "nothing" not in registry
    assert registry.get("plugged") is Widget and registry.get("shipped") is Widget
    assert set(registry.view()) == {"plugged", "shipped"}
    with pytest.raises(WidgetError, match=r"Unknown widget 'broken'.*'hf_ose.tests_widgets' entry-point group.*No module"):
        registry.get("broken")


def test_samplers_and_strategies_share_the_mechanism_and_keep_their_old_names_for_one_release() -> None:
    assert isinstance(SAMPLER_REGISTRY, Registry) and isinstance(STRATEGY_REGISTRY, Registry)
    assert STRATEGY_REGISTRY.names() == ["fptas", "interval"] and STRATEGY_REGISTRY.get("fptas") is search.fptas
    with pytest.warns(DeprecationWarning, match="STRATEGIES is deprecated"):
        assert dict(search.STRATEGIES) == dict(STRATEGY_REGISTRY.view())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from hf_ose.agora import SAMPLERS
    assert set(SAMPLERS) == set(SAMPLER_REGISTRY.view()) and not hasattr(SAMPLERS, "pop")


def test_a_registered_strategy_is_used_by_the_extractor() -> None:
    seen: list[int] = []

    def smallest(candidates, evaluate, epsilon, *, batch_size=1) -> SearchOutcome:
        """Evaluates only the smallest candidate."""
        seen.append(len(candidates))
        k = min(range(len(candidates)), key=lambda k: candidates[k].p)
        outcome = SearchOutcome(evaluation_bound=1)
        outcome.errors[k] = next(iter(evaluate([k])))
        outcome.front = [k]
        return outcome

    register_strategy(smallest)
    try:
        with pytest.raises(UnknownStrategyError, match="already registered.*overwrite=True"):
            register_strategy(lambda *args, **kwargs: None, "smallest")
        parent = T.BertConfig(num_hidden_layers=2, hidden_size=32, num_attention_heads=2, intermediate_size=64,
                              vocab_size=64)
        objectives = Objectives(latency=LatencySettings(seq_len=8, warmup=1, repeats=3, on_noise="warn"),
                                latency_samples=3)
        grid = {"depth": [1, 2], "hidden": [16, 32], "intermediate": [32, 64]}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # the AB^nC property, latency noise: beside the point
            front = OSEExtractor(parent, space=grid, objectives=objectives, strategy="smallest").extract(progress=False)
        assert seen == [front.record.candidates] and len(front) == 1 and front.record.evaluations == 1
        assert front.record.settings.strategy == "smallest"
    finally:
        STRATEGY_REGISTRY.unregister("smallest")
    with pytest.raises(UnknownStrategyError, match=r"Unknown search strategy 'smallest'.*register_strategy"):
        OSEExtractor(parent, space=grid, strategy="smallest")
