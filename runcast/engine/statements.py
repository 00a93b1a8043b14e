"""UPDATEs of the step path, written directly: the ORM's query builder costs more than the write.

Column names and table names come from this module, never from input; values are bound
parameters, converted with the models' own field converters so they match what the ORM
stores (JSON text, timestamps).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.models import Model

from runcast.db import db_value, placeholders


async def update(
    connection: BaseDBAsyncClient,
    model: type[Model],
    sets: Mapping[str, Any],
    where: Mapping[str, Any],
) -> int:
    """`UPDATE <table> SET … WHERE … (all equal)`; returns the number of rows changed."""
    marks = placeholders(connection, len(sets) + len(where))
    assignments = ", ".join(f"{column} = {mark}" for column, mark in zip(sets, marks, strict=False))
    conditions = " AND ".join(
        f"{column} = {mark}" for column, mark in zip(where, marks[len(sets) :], strict=False)
    )
    values = [db_value(model, c, v) for c, v in (*sets.items(), *where.items())]
    sql = f"UPDATE {model._meta.db_table} SET {assignments} WHERE {conditions}"
    changed, _ = await connection.execute_query(sql, values)
    return int(changed)
