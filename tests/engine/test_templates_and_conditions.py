"""Template rendering and condition operators, as pure functions."""

from __future__ import annotations

import pytest

from runcast.engine.conditions import evaluate
from runcast.engine.templates import lookup, render

SCOPE = {
    "trigger": {"userId": "u1", "items": [{"sku": "a"}, {"sku": "b"}], "n": 3, "flag": False},
    "variables": {"greeting": "Hi"},
    "steps": {"action-1": {"output": {"taskId": "task_1", "tags": ["x"]}}},
}


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{trigger.userId}}", "u1"),
        ("{{ trigger.n }}", 3),
        ("{{trigger.flag}}", False),
        ("{{steps.action-1.output.tags}}", ["x"]),
        ("{{trigger.items.1.sku}}", "b"),
        ("{{trigger.missing}}", None),
        ("{{trigger.items.9.sku}}", None),
        ("{{variables.greeting}}, {{trigger.userId}}!", "Hi, u1!"),
        ("n={{trigger.n}} tags={{steps.action-1.output.tags}}", 'n=3 tags=["x"]'),
        ("missing=[{{nope.at.all}}]", "missing=[]"),
        ("no templates", "no templates"),
        ("{{__class__.__mro__}}", None),
    ],
)
def test_render_strings(template, expected):
    assert render(template, SCOPE) == expected


def test_render_walks_nested_config_without_touching_non_strings():
    config = {"a": ["{{trigger.userId}}", 1, None], "b": {"c": "{{trigger.n}}"}, "d": True}
    assert render(config, SCOPE) == {"a": ["u1", 1, None], "b": {"c": 3}, "d": True}


def test_lookup_never_reaches_attributes():
    assert lookup({"trigger": "text"}, "trigger.upper") is None


@pytest.mark.parametrize(
    ("actual", "operator", "expected", "result"),
    [
        ("pro", "equals", "pro", True),
        ("5", "equals", 5, True),
        (True, "equals", 1, False),
        ("pro", "not_equals", "free", True),
        (None, "not_equals", "x", True),
        (10, "greater_than", 9.5, True),
        ("10", "greater_than", "9", True),
        ("b", "greater_than", "a", True),
        (None, "greater_than", 1, False),
        ({"a": 1}, "less_than", 2, False),
        (["a", "b"], "contains", "b", True),
        ({"k": 1}, "contains", "k", True),
        ("hello", "contains", "ell", True),
        (None, "contains", "x", False),
        (None, "not_contains", "x", True),
        (0, "exists", None, True),
        (None, "not_exists", None, True),
    ],
)
def test_operators(actual, operator, expected, result):
    assert evaluate(actual, operator, expected) is result
