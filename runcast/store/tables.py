"""What the store's SQL knows of the models: table names, stored columns and each column's
value conversions, as the ORM itself stores and loads them.

Tortoise keeps a model's field objects only in its model metadata, `Model._meta` (the
metaclass takes them off the class, and the public `Model.describe()` names the columns
but does not give the fields that convert values). This module is the one place that
reads it; the `tortoise-orm` pin in pyproject.toml bounds what it relies on, and
`tests/test_tables.py` checks it against `Model.describe()`.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from tortoise.fields.base import Field
from tortoise.models import Model

__all__ = ["field", "projection", "table", "to_db", "to_python"]


def table(model: type[Model]) -> str:
    """The model's table."""
    return str(model._meta.db_table)


@cache
def projection(model: type[Model]) -> dict[str, str]:
    """Field name → column, for every stored field of the model, in declaration order."""
    return dict(model._meta.fields_db_projection)


def field(model: type[Model], name: str) -> Field[Any]:
    """The model's field called `name` (a column's name works for every stored field)."""
    found: Field[Any] = model._meta.fields_map[name]
    return found


def to_db(model: type[Model], column: str, value: Any) -> Any:
    """`value` as the ORM would store it in `column` (JSON as text, timestamps)."""
    return field(model, column).to_db_value(value, model)


def to_python(model: type[Model], column: str, value: Any) -> Any:
    """A stored value of `column` as the ORM would load it."""
    return field(model, column).to_python_value(value)
