"""Errors in the contract's terms: every GraphQL error carries `extensions.code`."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import strawberry
from graphql.error import GraphQLError
from strawberry.extensions import MaskErrors
from strawberry.types import ExecutionContext
from strawberry.types.execution import StreamExecutionResult

from runcast.errors import RuncastError

logger = logging.getLogger("runcast.graphql")


MAX_MESSAGE_LENGTH = 500


def _shortened(message: str) -> str:
    """GraphQL's messages quote the offending input, which may be long."""
    if len(message) <= MAX_MESSAGE_LENGTH:
        return message
    return message[:MAX_MESSAGE_LENGTH] + "…"


def is_fault(error: GraphQLError) -> bool:
    """Whether `error` is the server's fault: an unexpected exception while resolving a
    field. Errors without a path arose while reading or validating the document (e.g. a
    literal too long to convert), so they are the request's."""
    original = error.original_error
    return (
        original is not None
        and not isinstance(original, RuncastError | GraphQLError)
        and error.path is not None
    )


def _always(error: GraphQLError) -> bool:
    return True


class ContractErrors(MaskErrors):
    """Keep runcast's coded errors, code the request's other faults as VALIDATION_ERROR,
    mask the server's.

    Every error goes through `anonymise_error`, which puts it in the contract's terms;
    Strawberry's extension finds the errors of every result (operations, subscription
    events, streamed frames) and hands them over.
    """

    def __init__(self) -> None:
        super().__init__(should_mask_error=_always, error_message="Internal server error")

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        original = error.original_error
        if isinstance(original, RuncastError):
            return GraphQLError(
                original.message,
                nodes=error.nodes,
                positions=error.positions,
                path=error.path,
                extensions=original.extensions,
            )
        if not is_fault(error):
            return GraphQLError(
                _shortened(error.message),
                nodes=error.nodes,
                positions=error.positions,
                path=error.path,
                extensions={"code": "VALIDATION_ERROR"},
            )
        return GraphQLError(
            self.error_message,
            nodes=error.nodes,
            positions=error.positions,
            path=error.path,
            extensions={"code": "INTERNAL_ERROR"},
        )

    def on_stream_result(self, result: StreamExecutionResult) -> Iterator[None]:
        """A subscription event without errors has nothing to mask: skip the base class's
        search (a runtime protocol check per event and subscriber)."""
        if getattr(result, "errors", None) or any(
            getattr(result, name, None) for name in ("incremental", "completed")
        ):
            yield from super().on_stream_result(result)
        else:
            yield None


class Schema(strawberry.Schema):
    """Logs only unexpected errors; coded ones are answers, not faults."""

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        for error in errors:
            if is_fault(error):
                logger.error("unhandled GraphQL error", exc_info=error.original_error)
