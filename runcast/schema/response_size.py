"""A cap on the size of a query's JSON response, the last line of defence behind the cost
limit (which bounds what an accepted query can ask for before anything is resolved)."""

from __future__ import annotations

import json
from collections.abc import Iterator

from graphql import ExecutionResult, GraphQLError
from strawberry.extensions import SchemaExtension

from runcast.errors import ValidationError
from runcast.settings import Settings


def encoded_size(data: object) -> int:
    """The length of `data` as the view encodes it (compact, ASCII-escaped JSON)."""
    return len(json.dumps(data, separators=(",", ":")))


def too_large(size: int, max_bytes: int) -> GraphQLError:
    message = (
        f"The response would be {size} bytes, over the limit of {max_bytes}: ask for fewer "
        "rows (a smaller limit) or fewer JSON fields such as triggerData and variables"
    )
    problem = ValidationError(
        message, [{"reason": "RESPONSE_TOO_LARGE", "bytes": size, "maxBytes": max_bytes}]
    )
    return GraphQLError(message, original_error=problem, extensions=problem.extensions)


class ResponseSizeCap(SchemaExtension):
    """Answers a query or mutation whose data would encode to more than
    `Settings.graphql_max_response_bytes` with a coded error instead of the data.
    Subscription events are single objects and are not measured."""

    def on_execute(self) -> Iterator[None]:
        yield
        context = self.execution_context
        result = context.result
        if not isinstance(result, ExecutionResult) or result.data is None:
            return
        settings: Settings = context.context.settings
        size = encoded_size(result.data)
        if size > settings.graphql_max_response_bytes:
            result.data = None
            result.errors = [too_large(size, settings.graphql_max_response_bytes)]
