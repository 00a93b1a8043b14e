"""The Strawberry schema: types, queries, mutations, subscriptions and their context."""

from runcast.schema.build import build_schema

__all__ = ["build_schema"]
