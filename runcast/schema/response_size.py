"""A cap on the size of a GraphQL answer, the last line of defence behind the cost limit
(which bounds what an accepted query can ask for before anything is resolved).

The answer is measured where the view encodes it, so it is encoded once: a result whose
JSON is over the cap is replaced by a coded error, on HTTP and on websocket messages.
"""

from __future__ import annotations

import json
from typing import Any

from graphql import GraphQLError

from runcast.errors import ValidationError


def too_large(size: int, max_bytes: int) -> GraphQLError:
    message = (
        f"The response would be {size} bytes, over the limit of {max_bytes}: ask for fewer "
        "rows (a smaller limit) or fewer JSON fields such as triggerData and variables"
    )
    problem = ValidationError(
        message, [{"reason": "RESPONSE_TOO_LARGE", "bytes": size, "maxBytes": max_bytes}]
    )
    return GraphQLError(message, original_error=problem, extensions=problem.extensions)


def _without_data(message: Any, error: GraphQLError) -> Any:
    """`message` (an HTTP answer, or a websocket message whose payload is one) with its
    result replaced by `error`; None when it carries no result."""
    replaced = {"data": None, "errors": [error.formatted]}
    if not isinstance(message, dict):
        return None
    payload = message.get("payload")
    if isinstance(payload, dict) and "data" in payload:
        return {**message, "payload": replaced}
    if "data" in message:
        return replaced
    return None


def encode_capped(message: object, max_bytes: int) -> str:
    """`message` as compact JSON, or, when that is over `max_bytes` and it carries a
    result, the same message with the result replaced by a RESPONSE_TOO_LARGE error."""
    text = json.dumps(message, separators=(",", ":"))
    if len(text) <= max_bytes:
        return text
    smaller = _without_data(message, too_large(len(text), max_bytes))
    return text if smaller is None else json.dumps(smaller, separators=(",", ":"))
