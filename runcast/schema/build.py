"""Assemble the schema with its protective extensions."""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache

from graphql import DocumentNode, GraphQLError, parse
from strawberry.extensions import (
    AddValidationRules,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
    SchemaExtension,
    ValidationCache,
)

from runcast.schema.cost import QueryCost
from runcast.schema.errors import ContractErrors, Schema
from runcast.schema.multiplex import MultiplexedExecutor
from runcast.schema.mutation import Mutation
from runcast.schema.query import Query
from runcast.schema.scalars import SCALAR_OVERRIDES
from runcast.schema.subscription import Subscription

MAX_DEPTH = 10
MAX_ALIASES = 30
MAX_TOKENS = 2_000
CACHED_DOCUMENTS = 256

# The limiters' rule classes, made once: the validation cache is keyed by the rule classes,
# so per-request limiter instances (each defining its own classes) would never hit it.
_LIMIT_RULES = [
    *QueryDepthLimiter(max_depth=MAX_DEPTH).validation_rules,
    *MaxAliasesLimiter(max_alias_count=MAX_ALIASES).validation_rules,
]


class QueryLimits(AddValidationRules):
    """Depth and alias limits, with rule classes shared by every request."""

    def __init__(self) -> None:
        super().__init__(_LIMIT_RULES)


_cached_parse = lru_cache(maxsize=CACHED_DOCUMENTS)(parse)


def parsed_document(query: str) -> DocumentNode | None:
    """The document of `query` under the token limit (shared with the parse cache), or
    None when it does not parse."""
    try:
        return _cached_parse(query, max_tokens=MAX_TOKENS)
    except GraphQLError:
        return None


class CachedParse(SchemaExtension):
    """Reuse the parsed document of a query text seen before (the validation cache is keyed
    by the document). A text that does not parse is left to Strawberry, which reports it."""

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        try:
            context.graphql_document = _cached_parse(context.query, **context.parse_options)
        except GraphQLError:
            pass
        yield


def build_schema() -> Schema:
    """A new schema. Extensions are passed as factories so no state is shared; the parse
    and validation caches are bounded LRU caches of documents, not of per-request state.
    Subscription events run through the multiplexer (`multiplex.py`)."""
    return Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        scalar_overrides=SCALAR_OVERRIDES,
        execution_context_class=MultiplexedExecutor,
        extensions=[
            ContractErrors,
            QueryLimits,
            QueryCost,
            lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
            CachedParse,
            lambda: ValidationCache(maxsize=CACHED_DOCUMENTS),
        ],
    )
