"""The eight comparison operators of the `condition` action."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _equals(actual: Any, expected: Any) -> bool:
    if actual == expected and type(actual) is type(expected):
        return True
    left, right = _number(actual), _number(expected)
    if left is not None and right is not None:
        return left == right
    return actual == expected and not isinstance(actual, bool) and not isinstance(expected, bool)


def _compare(actual: Any, expected: Any, sign: int) -> bool:
    left, right = _number(actual), _number(expected)
    if left is not None and right is not None:
        return (left - right) * sign > 0
    if isinstance(actual, str) and isinstance(expected, str):
        return (actual > expected) if sign > 0 else (actual < expected)
    return False


def _contains(actual: Any, expected: Any) -> bool:
    if isinstance(actual, str):
        return isinstance(expected, str | int | float) and str(expected) in actual
    if isinstance(actual, list):
        return any(_equals(item, expected) for item in actual)
    if isinstance(actual, dict):
        return isinstance(expected, str) and expected in actual
    return False


OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "equals": _equals,
    "not_equals": lambda a, e: not _equals(a, e),
    "greater_than": lambda a, e: _compare(a, e, 1),
    "less_than": lambda a, e: _compare(a, e, -1),
    "contains": _contains,
    "not_contains": lambda a, e: not _contains(a, e),
    "exists": lambda a, _e: a is not None,
    "not_exists": lambda a, _e: a is None,
}

UNARY_OPERATORS = frozenset({"exists", "not_exists"})


def evaluate(actual: Any, operator: str, expected: Any) -> bool:
    """Apply `operator` to the field's value and the configured value."""
    return OPERATORS[operator](actual, expected)
