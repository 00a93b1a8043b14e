"""Assemble the schema with its protective extensions."""

from __future__ import annotations

from strawberry.extensions import MaxAliasesLimiter, MaxTokensLimiter, QueryDepthLimiter

from runcast.schema.errors import ContractErrors, Schema
from runcast.schema.mutation import Mutation
from runcast.schema.query import Query
from runcast.schema.subscription import Subscription

MAX_DEPTH = 10
MAX_ALIASES = 30
MAX_TOKENS = 2_000


def build_schema() -> Schema:
    """A new schema. Extensions are passed as factories so no state is shared."""
    return Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=[
            lambda: QueryDepthLimiter(max_depth=MAX_DEPTH),
            lambda: MaxAliasesLimiter(max_alias_count=MAX_ALIASES),
            lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
            ContractErrors,
        ],
    )
