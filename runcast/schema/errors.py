"""Errors in the contract's terms: every GraphQL error carries `extensions.code`."""

from __future__ import annotations

import logging

import strawberry
from graphql.error import GraphQLError
from strawberry.extensions import MaskErrors
from strawberry.types import ExecutionContext

from runcast.errors import RuncastError

logger = logging.getLogger("runcast.graphql")


class ContractErrors(MaskErrors):
    """Keep runcast's coded errors, code GraphQL's own as VALIDATION_ERROR, mask the rest."""

    def __init__(self) -> None:
        super().__init__(error_message="Internal server error")

    def _process_errors(self, errors: list[GraphQLError]) -> list[GraphQLError]:
        return [self._in_contract(error) for error in errors]

    def _in_contract(self, error: GraphQLError) -> GraphQLError:
        original = error.original_error
        if isinstance(original, RuncastError):
            return GraphQLError(
                original.message,
                nodes=error.nodes,
                positions=error.positions,
                path=error.path,
                extensions=original.extensions,
            )
        if original is None or isinstance(original, GraphQLError):
            return GraphQLError(
                error.message,
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


class Schema(strawberry.Schema):
    """Logs only unexpected errors; coded ones are answers, not faults."""

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        for error in errors:
            original = error.original_error
            if original is not None and not isinstance(original, RuncastError | GraphQLError):
                logger.error("unhandled GraphQL error", exc_info=original)
