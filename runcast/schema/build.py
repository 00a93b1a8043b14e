"""Assemble the schema with its protective limits.

The limits on a document (tokens when parsing; depth, aliases and cost when validating) and
the caches that make a document seen before cheap (its parse, its validation) are one
extension, `PreparedDocuments`: Strawberry runs each extension's hooks on every request, so
one extension instead of one per limit and cache keeps that per-request work small.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

from graphql import ASTValidationRule, DocumentNode, GraphQLError, parse
from strawberry.extensions import MaxAliasesLimiter, QueryDepthLimiter, SchemaExtension

from runcast.schema.cost import cost_rule
from runcast.schema.errors import ContractErrors, Schema
from runcast.schema.multiplex import MultiplexedExecutor
from runcast.schema.mutation import Mutation
from runcast.schema.query import Query
from runcast.schema.scalars import SCALAR_OVERRIDES
from runcast.schema.subscription import Subscription
from runcast.settings import Settings

MAX_DEPTH = 10
MAX_ALIASES = 30
MAX_TOKENS = 2_000
CACHED_DOCUMENTS = 256

# The limiters' rule classes, made once: validation results are cached per document.
LIMIT_RULES = (
    *QueryDepthLimiter(max_depth=MAX_DEPTH).validation_rules,
    *MaxAliasesLimiter(max_alias_count=MAX_ALIASES).validation_rules,
)

_cached_parse = lru_cache(maxsize=CACHED_DOCUMENTS)(parse)


@lru_cache(maxsize=16)
def limited_rules(
    rules: tuple[type[ASTValidationRule], ...], max_cost: int
) -> tuple[type[ASTValidationRule], ...]:
    """`rules` with the document limits: one tuple for every request with the same rules
    and cost limit, which its execution context holds as long as the request runs (a
    subscription's, for its lifetime)."""
    return (*rules, *LIMIT_RULES, cost_rule(max_cost))


def parsed_document(query: str) -> DocumentNode | None:
    """The document of `query` under the token limit (shared with the parse cache), or
    None when it does not parse."""
    try:
        return _cached_parse(query, max_tokens=MAX_TOKENS)
    except GraphQLError:
        return None


class ValidationResults:
    """The validation errors of the last CACHED_DOCUMENTS query texts, per cost limit.

    Keyed by the text rather than by the document: a text's hash is computed once and
    kept by Python, a document's is recomputed over its whole tree on every look-up. The
    text stands for its document (the parse cache gives the same document for it) and the
    rules are the same for every request of one schema but for the cost limit.
    """

    def __init__(self, size: int = CACHED_DOCUMENTS) -> None:
        self.size = size
        self.errors: OrderedDict[tuple[str, int], list[GraphQLError]] = OrderedDict()

    def get(self, key: tuple[str, int]) -> list[GraphQLError] | None:
        errors = self.errors.get(key)
        if errors is not None:
            self.errors.move_to_end(key)
        return errors

    def put(self, key: tuple[str, int], errors: list[GraphQLError]) -> None:
        self.errors[key] = errors
        if len(self.errors) > self.size:
            self.errors.popitem(last=False)


class PreparedDocuments(SchemaExtension):
    """Parse under the token limit, through the parse cache; validate with the depth,
    alias and cost rules (`Settings.graphql_max_cost`), through the validation cache. A
    text that does not parse is left to Strawberry, which reports it (with the same
    token limit)."""

    def __init__(self, validated: ValidationResults) -> None:
        super().__init__()
        self.validated = validated

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        context.parse_options["max_tokens"] = MAX_TOKENS
        if context.query is not None:
            try:
                context.graphql_document = _cached_parse(context.query, max_tokens=MAX_TOKENS)
            except GraphQLError:
                pass
        yield

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        settings: Settings = context.context.settings
        max_cost = settings.graphql_max_cost
        context.validation_rules = limited_rules(context.validation_rules, max_cost)
        key = None if context.query is None else (context.query, max_cost)
        errors = None if key is None else self.validated.get(key)
        if errors is not None:
            context.pre_execution_errors = errors
            yield
            return
        yield  # Strawberry validates here
        if key is not None and context.pre_execution_errors is not None:
            self.validated.put(key, context.pre_execution_errors)


def build_schema() -> Schema:
    """A new schema with its own validation cache. Extensions are passed as factories so
    no per-request state is shared; the caches hold documents and their validation errors,
    not per-request state. Subscription events run through the multiplexer
    (`multiplex.py`)."""
    validated = ValidationResults()

    def prepared_documents() -> Any:
        return PreparedDocuments(validated)

    return Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        scalar_overrides=SCALAR_OVERRIDES,
        execution_context_class=MultiplexedExecutor,
        extensions=[ContractErrors, prepared_documents],
    )
