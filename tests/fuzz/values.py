"""Hypothesis strategies for JSON values: ordinary, deeply nested, huge numbers, and the same
values as GraphQL literals."""

from __future__ import annotations

import json
from typing import Any

import graphql
from hypothesis import strategies as st

DEPTHS = (2, 63, 64, 65, 71, 72, 73, 200, 960, 1_000, 5_000, 20_000, 100_000)
# graphql-core prints nested literals indented, in space quadratic in the depth.
LITERAL_DEPTHS = tuple(depth for depth in DEPTHS if depth <= 1_500)
BIG_INTEGERS = (2**31, 2**53 + 1, 2**63, 2**64, -(2**63) - 1, 10**400)
HUGE_INTEGER_TEXT = "9" * 5_000  # past Python's 4,300-digit int conversion limit

# A valid config for each built-in action type, so generated workflows are sometimes accepted
# and run (call_api's target is refused by the private-network guard, quickly).
ACTION_CONFIGS: tuple[dict[str, Any], ...] = (
    {"message": "Welcome {{trigger.userId}}", "recipient": "{{trigger.userId}}"},
    {"title": "Review {{trigger.userId}}", "priority": "HIGH"},
    {"durationMs": 1},
    {"field": "trigger.plan", "operator": "equals", "value": "pro"},
    {"url": "http://127.0.0.1:9/", "method": "POST"},
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from(BIG_INTEGERS),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),
)


def json_values(keys: st.SearchStrategy[str] | None = None) -> st.SearchStrategy[Any]:
    """Ordinary JSON values a few levels deep."""
    keys = keys if keys is not None else st.text(max_size=12)
    return st.recursive(
        scalars,
        lambda children: (
            st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=4)
        ),
        max_leaves=16,
    )


def nested_text(depth: int, inner: str = "1", kind: str = "list") -> str:
    """JSON text nesting `inner` `depth` levels deep in arrays or objects."""
    if kind == "list":
        return "[" * depth + inner + "]" * depth
    return '{"a":' * depth + inner + "}" * depth


deep_json_text = st.builds(
    nested_text,
    st.sampled_from(DEPTHS),
    st.sampled_from(["1", "{}", "null", '"x"']),
    st.sampled_from(["list", "object"]),
)

# JSON text a serializer would never write: NaN, Infinity, huge integers, deep nesting.
odd_json_text = st.one_of(
    deep_json_text,
    st.sampled_from(["NaN", "Infinity", "-Infinity", HUGE_INTEGER_TEXT, "1e999", "-0", "1E400"]),
)


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def value_node(value: Any) -> graphql.ValueNode:
    """`value` as a GraphQL literal (object keys must already be GraphQL names)."""
    if value is None:
        return graphql.NullValueNode()
    if isinstance(value, bool):
        return graphql.BooleanValueNode(value=value)
    if isinstance(value, int):
        return graphql.IntValueNode(value=str(value))
    if isinstance(value, float):
        return graphql.FloatValueNode(value=repr(value))
    if isinstance(value, str):
        return graphql.StringValueNode(value=value)
    if isinstance(value, list):
        return graphql.ListValueNode(values=tuple(value_node(item) for item in value))
    return graphql.ObjectValueNode(
        fields=tuple(
            graphql.ObjectFieldNode(name=graphql.NameNode(value=key), value=value_node(item))
            for key, item in value.items()
        )
    )


def nested_node(depth: int) -> graphql.ValueNode:
    """A list literal nested `depth` levels deep, built without recursion."""
    node: graphql.ValueNode = graphql.IntValueNode(value="1")
    for _ in range(depth):
        node = graphql.ListValueNode(values=(node,))
    return node


graphql_names = st.from_regex(r"[_A-Za-z][_0-9A-Za-z]{0,10}", fullmatch=True)

# Literals for the `JSON` scalar: ordinary values, deep nesting and integers past every limit.
json_literals = st.one_of(
    json_values(graphql_names).map(value_node),
    st.sampled_from(ACTION_CONFIGS).map(value_node),
    st.sampled_from(LITERAL_DEPTHS).map(nested_node),
    st.just(graphql.IntValueNode(value=HUGE_INTEGER_TEXT)),
)
