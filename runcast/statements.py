"""The execution path's SQL: its writes, one transaction per `run`, and its hot reads.

The ORM's query builder costs more than these statements, and on SQLite every statement
sent through it is one hand-off to the driver's thread (three more for BEGIN and COMMIT):
`run` sends a whole transaction in one, and on SQLite the transactions and reads of many
callers share a trip (see `_GroupCommit`). Table and column names come from the models,
never from input; values are bound parameters, converted with the models' own field
converters so they match what the ORM stores (JSON text, timestamps).
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient, TransactionalDBClient
from tortoise.exceptions import IntegrityError, OperationalError
from tortoise.models import Model
from tortoise.transactions import in_transaction

from runcast.db import db_value

M = TypeVar("M", bound=Model)
sql_log = logging.getLogger("runcast.sql")
"""Debug log of the statements sent through SQLite's group (Tortoise logs the others)."""


@dataclass(frozen=True)
class Statement:
    """One statement with one parameter row per execution of it."""

    sql: str
    rows: list[list[Any]]
    expect: int | None = None
    """How many rows it must change; otherwise the whole transaction is rolled back."""


@dataclass(frozen=True)
class Query:
    """One read: SQL with `?` marks (rewritten for Postgres) and its parameters."""

    sql: str
    params: list[Any]


class _Unexpected(Exception):
    """A statement changed another number of rows than it expected."""


def dialect() -> str:
    return str(connections.get("default").capabilities.dialect)


def _marks(dialect_name: str, count: int) -> list[str]:
    if dialect_name == "postgres":
        return [f"${n}" for n in range(1, count + 1)]
    return ["?"] * count


def update(
    dialect_name: str,
    model: type[Model],
    sets: Mapping[str, Any],
    where: Mapping[str, Any],
    expect: int | None = None,
) -> Statement:
    """`UPDATE <table> SET … WHERE …` (every condition an equality)."""
    marks = _marks(dialect_name, len(sets) + len(where))
    assignments = ", ".join(f"{column} = {mark}" for column, mark in zip(sets, marks, strict=False))
    conditions = " AND ".join(
        f"{column} = {mark}" for column, mark in zip(where, marks[len(sets) :], strict=False)
    )
    values = [db_value(model, c, v) for c, v in (*sets.items(), *where.items())]
    sql = f"UPDATE {model._meta.db_table} SET {assignments} WHERE {conditions}"
    return Statement(sql, [values], expect)


def insert(
    dialect_name: str,
    model: type[Model],
    records: Sequence[Mapping[str, Any]],
    skip_existing: bool = False,
) -> Statement:
    """`INSERT` of `records` (column → value, the same columns in each) into `model`'s table;
    with `skip_existing`, a record whose key is already stored is left out."""
    columns = list(records[0])
    marks = ", ".join(_marks(dialect_name, len(columns)))
    sql = f"INSERT INTO {model._meta.db_table} ({', '.join(columns)}) VALUES ({marks})"
    if skip_existing:
        sql += " ON CONFLICT DO NOTHING"
    rows = [[db_value(model, c, record[c]) for c in columns] for record in records]
    return Statement(sql, rows)


def stored_fields(instance: Model, skip: Sequence[str] = ()) -> dict[str, Any]:
    """Every stored column of `instance` but `skip`, as a record for `insert`."""
    projection = instance._meta.fields_db_projection
    return {column: getattr(instance, column) for column in projection if column not in skip}


async def fetch(sql: str, params: Sequence[Any]) -> list[dict[str, Any]]:
    """The rows of one read on the hot path (`?` marks in `sql`). On SQLite it rides along
    with the writes of the next trip to the driver's thread instead of waiting for its own."""
    client = connections.get("default")
    group = _group_of(client)
    if group is not None:
        return list(await group.submit(Query(sql, list(params))))  # type: ignore[arg-type]
    if client.capabilities.dialect == "postgres":
        marks = iter(_marks("postgres", sql.count("?")))
        sql = "".join(next(marks) if char == "?" else char for char in sql)
    return list(await client.execute_query_dict(sql, list(params)))


def columns(model: type[Model], alias: str) -> str:
    """`alias.column, …` for every stored column of `model`, to select it whole."""
    return ", ".join(f"{alias}.{column}" for column in model._meta.fields_db_projection.values())


def instance(model: type[M], row: Mapping[str, Any]) -> M:
    """The model instance a row of `columns(model, …)` holds, as the ORM would load it."""
    stored = {column: row[column] for column in model._meta.fields_db_projection.values()}
    return model._init_from_db(**stored)


async def select(model: type[M], where: str, params: Sequence[Any], order_by: str = "") -> list[M]:
    """The instances of `model` whose rows match `where` (`?` marks), through `fetch`."""
    sql = f"SELECT {columns(model, 't')} FROM {model._meta.db_table} t WHERE {where}"
    if order_by:
        sql += f" ORDER BY {order_by}"
    return [instance(model, row) for row in await fetch(sql, params)]


async def get_in_workspace(model: type[M], row_id: str, workspace_id: str) -> M | None:
    """The row of `model` with this id, if it belongs to the workspace."""
    found = await select(model, "t.id = ? AND t.workspace_id = ?", [row_id, workspace_id])
    return found[0] if found else None


async def run(statements: Sequence[Statement]) -> bool:
    """Run `statements` in one transaction. False, with nothing written, when one of them
    changed another number of rows than it expected; IntegrityError on a constraint."""
    group = _group_of(connections.get("default"))
    if group is not None:
        return bool(await group.submit(statements))
    try:
        async with in_transaction() as connection:
            for statement in statements:
                changed = await _execute(connection, statement)
                if statement.expect is not None and changed != statement.expect:
                    raise _Unexpected
    except _Unexpected:
        return False
    return True


async def _execute(connection: BaseDBAsyncClient, statement: Statement) -> int:
    if len(statement.rows) == 1:
        changed, _ = await connection.execute_query(statement.sql, statement.rows[0])
        return int(changed)
    await connection.execute_many(statement.sql, statement.rows)
    return len(statement.rows)


# Tortoise has no public way to run several statements in one trip to aiosqlite's thread;
# this is the only place that touches its SQLite client's internals: the lock with which
# Tortoise serialises its own use of the connection, and aiosqlite's call into its thread.


Work = Sequence[Statement] | Query
Result = bool | list[dict[str, Any]]


class _GroupCommit:
    """SQLite's hot-path work, grouped: the transactions and reads handed in while one trip
    to the driver's thread is under way go together in the next trip, each transaction in
    its own savepoint under one COMMIT. The connection is serial, and a trip costs more in
    waiting for threads than in SQLite's work, so under load this is what lets it keep up."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.queue: list[tuple[Work, asyncio.Future[Result]]] = []
        self.drainer: asyncio.Task[None] | None = None

    async def submit(self, work: Work) -> Result:
        if sql_log.isEnabledFor(logging.DEBUG):
            for sql, params in _sql_of(work):
                sql_log.debug("%s: %s", sql, params)
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self.queue.append((work, future))
        if self.drainer is None or self.drainer.done():
            self.drainer = asyncio.create_task(self._drain(), name="sqlite group commit")
        return await future

    async def _drain(self) -> None:
        while self.queue:
            group = [(w, f) for w, f in self.queue if not f.done()]
            self.queue = []
            if group:
                await self._trip(group)

    async def _trip(self, group: list[tuple[Work, asyncio.Future[Result]]]) -> None:
        client = self.client
        try:
            async with client._lock:
                if client._connection is None:
                    await client.create_connection(with_db=True)
                connection = client._connection
                results = await connection._execute(
                    _run_group, connection._conn, [work for work, _ in group]
                )
        except Exception as exc:  # the whole trip failed: every transaction in it did
            for _, future in group:
                if not future.done():
                    future.set_exception(_translated(exc))
            return
        except BaseException:
            for _, future in group:
                future.cancel()
            raise
        for (_, future), result in zip(group, results, strict=True):
            if future.done():
                continue
            if isinstance(result, Exception):
                future.set_exception(_translated(result))
            else:
                future.set_result(result)


def _sql_of(work: Work) -> list[tuple[str, list[Any]]]:
    if isinstance(work, Query):
        return [(work.sql, work.params)]
    return [(statement.sql, row) for statement in work for row in statement.rows]


_groups: weakref.WeakKeyDictionary[Any, _GroupCommit] = weakref.WeakKeyDictionary()


def _group_of(client: BaseDBAsyncClient) -> _GroupCommit | None:
    """The group of SQLite's connection; None on Postgres, and inside a transaction the
    caller opened (its statements go through that transaction)."""
    if client.capabilities.dialect != "sqlite" or isinstance(client, TransactionalDBClient):
        return None
    group = _groups.get(client)
    if group is None:
        group = _groups[client] = _GroupCommit(client)
    return group


def _translated(exc: Exception) -> Exception:
    if isinstance(exc, sqlite3.IntegrityError):
        return IntegrityError(exc)
    if isinstance(exc, sqlite3.Error):
        return OperationalError(exc)
    return exc


def _run_group(connection: sqlite3.Connection, group: Sequence[Work]) -> list[Result | Exception]:
    """Runs in aiosqlite's thread, on a connection in autocommit mode: each transaction of
    `group` in a savepoint (rolled back alone when it fails), all under one COMMIT; reads
    in the same transaction, or on their own when the group has no writes."""
    writes = any(not isinstance(work, Query) for work in group)
    results: list[Result | Exception] = []
    if writes:
        connection.execute("BEGIN IMMEDIATE")
    try:
        for work in group:
            results.append(
                _read(connection, work) if isinstance(work, Query) else _write(connection, work)
            )
    except BaseException:
        if writes:
            connection.execute("ROLLBACK")
        raise
    if writes:
        connection.execute("COMMIT")
    return results


def _read(connection: sqlite3.Connection, query: Query) -> list[dict[str, Any]] | Exception:
    try:
        return [dict(row) for row in connection.execute(query.sql, query.params).fetchall()]
    except sqlite3.Error as exc:
        return exc


def _write(connection: sqlite3.Connection, statements: Sequence[Statement]) -> bool | Exception:
    connection.execute("SAVEPOINT one")
    try:
        result: bool | Exception = _apply(connection, statements)
    except sqlite3.Error as exc:
        result = exc
    if result is not True:
        connection.execute("ROLLBACK TO one")
    connection.execute("RELEASE one")
    return result


def _apply(connection: sqlite3.Connection, statements: Sequence[Statement]) -> bool:
    for statement in statements:
        if len(statement.rows) == 1:
            changed = connection.execute(statement.sql, statement.rows[0]).rowcount
        else:
            changed = connection.executemany(statement.sql, statement.rows).rowcount
        if statement.expect is not None and changed != statement.expect:
            return False
    return True
