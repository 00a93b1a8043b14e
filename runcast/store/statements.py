"""The execution path's SQL: its writes, one transaction per `run`, and its hot reads.

The ORM's query builder costs more than these statements, and on SQLite every statement
sent through it is one hand-off to the driver's thread (three more for BEGIN and COMMIT):
`run` sends a whole transaction in one, and on SQLite, while the app holds the store open,
the transactions and reads of many callers share a trip on the store's own connection
(`runcast.store.sqlite`). Otherwise (Postgres, the CLI, inside a transaction the caller
opened) they go through the ORM's connection. Table and column names come from the
models, never from input; values are bound parameters, converted with the models' own
field converters so they match what the ORM stores (JSON text, timestamps).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any, TypeVar

from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient, TransactionalDBClient
from tortoise.exceptions import OperationalError
from tortoise.fields import DatetimeField, Field
from tortoise.models import Model
from tortoise.transactions import in_transaction

from runcast.db import sqlite_file, sqlite_pragmas
from runcast.store import tables
from runcast.store.sqlite import GroupCommit, Query, Statement
from runcast.tasks import run_to_end

__all__ = [
    "Query",
    "Statement",
    "close_sqlite",
    "columns",
    "dialect",
    "fetch",
    "get_in_workspace",
    "insert",
    "insert_new",
    "instance",
    "open_sqlite",
    "run",
    "select",
    "stored_fields",
    "transaction",
    "update",
]

M = TypeVar("M", bound=Model)
T = TypeVar("T")

_sqlite: GroupCommit | None = None
"""The SQLite store's connection while the app holds it open (`open_sqlite`)."""


async def open_sqlite(database_url: str) -> GroupCommit | None:
    """Open the store's own connection to a SQLite file and send the hot path's SQL
    through it; None (the ORM's connection stays in use) for another database."""
    global _sqlite
    path = sqlite_file(database_url)
    if path is None:
        return None
    store = GroupCommit(path, sqlite_pragmas(database_url))
    await store.open()
    _sqlite = store
    return store


async def close_sqlite(store: GroupCommit) -> None:
    """Send the hot path's SQL through the ORM again, finish `store`'s work and close it."""
    global _sqlite
    if _sqlite is store:
        _sqlite = None
    await store.close()


class _Unexpected(Exception):
    """A statement changed another number of rows than it expected."""


def dialect() -> str:
    if _sqlite is not None:  # the app opened the store on its SQLite database
        return "sqlite"
    return str(connections.get("default").capabilities.dialect)


def _marks(dialect_name: str, count: int) -> list[str]:
    if dialect_name == "postgres":
        return [f"${n}" for n in range(1, count + 1)]
    return ["?"] * count


_SQL: dict[tuple[Any, ...], str] = {}
"""The text of each statement shape `update` and `insert` built (dialect, table, columns):
the execution path sends the same few shapes over and over."""


def update(
    dialect_name: str,
    model: type[Model],
    sets: Mapping[str, Any],
    where: Mapping[str, Any],
    expect: int | None = None,
) -> Statement:
    """`UPDATE <table> SET … WHERE …`: each condition an equality, or `column IS NULL`
    where its value is None."""
    table = tables.table(model)
    null = tuple(column for column, value in where.items() if value is None)
    if null:
        where = {column: value for column, value in where.items() if value is not None}
    shape = ("UPDATE", dialect_name, table, *sets, None, *where, None, *null)
    sql = _SQL.get(shape)
    if sql is None:
        marks = _marks(dialect_name, len(sets) + len(where))
        assignments = ", ".join(
            f"{column} = {mark}" for column, mark in zip(sets, marks, strict=False)
        )
        conditions = " AND ".join(
            [f"{column} = {mark}" for column, mark in zip(where, marks[len(sets) :], strict=True)]
            + [f"{column} IS NULL" for column in null]
        )
        sql = _SQL[shape] = f"UPDATE {table} SET {assignments} WHERE {conditions}"
    values = [tables.to_db(model, c, v) for c, v in (*sets.items(), *where.items())]
    return Statement(sql, [values], expect, table, tuple(values[len(sets) :]))


def insert(
    dialect_name: str,
    model: type[Model],
    records: Sequence[Mapping[str, Any]],
    skip_existing: bool = False,
) -> Statement:
    """`INSERT` of `records` (column → value, the same columns in each) into `model`'s table;
    with `skip_existing`, a record whose key is already stored is left out."""
    table = tables.table(model)
    columns = list(records[0])
    shape = ("INSERT", dialect_name, table, skip_existing, *columns)
    sql = _SQL.get(shape)
    if sql is None:
        marks = ", ".join(_marks(dialect_name, len(columns)))
        sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"
        if skip_existing:
            sql += " ON CONFLICT DO NOTHING"
        _SQL[shape] = sql
    converters = [tables.field(model, c).to_db_value for c in columns]
    rows = [
        [convert(record[c], model) for c, convert in zip(columns, converters, strict=True)]
        for record in records
    ]
    return Statement(sql, rows, table=table)


def stored_fields(instance: Model, skip: Sequence[str] = ()) -> dict[str, Any]:
    """Every stored column of `instance` but `skip`, as a record for `insert`."""
    projection = tables.projection(type(instance))
    return {column: getattr(instance, column) for column in projection if column not in skip}


async def fetch(sql: str, params: Sequence[Any], *, writes: bool = False) -> list[dict[str, Any]]:
    """The rows of one read on the hot path (`?` marks in `sql`), or with `writes` of one
    statement that writes and returns rows; on SQLite in the store connection's next trip."""
    client = connections.get("default")
    store = _store_of(client)
    if store is not None:
        rows = await store.submit(Query(sql, list(params), writes))
        assert isinstance(rows, list)
        return rows
    if client.capabilities.dialect == "postgres":
        marks = iter(_marks("postgres", sql.count("?")))
        sql = "".join(next(marks) if char == "?" else char for char in sql)
    return list(await client.execute_query_dict(sql, list(params)))


def columns(model: type[Model], alias: str) -> str:
    """`alias.column, …` for every stored column of `model`, to select it whole."""
    return ", ".join(f"{alias}.{column}" for column in tables.projection(model).values())


def instance(model: type[M], row: Mapping[str, Any]) -> M:
    """The model instance a row of `columns(model, …)` holds, as the ORM would load it
    (marked as stored, so `save` updates it)."""
    values = {name: convert(row[column]) for name, column, convert in _converters(model)}
    return model.construct(_saved_in_db=True, **values)


_CONVERTERS: dict[type[Model], list[tuple[str, str, Callable[[Any], Any]]]] = {}


def _converters(model: type[Model]) -> list[tuple[str, str, Callable[[Any], Any]]]:
    """(field, column, DB value → Python value) for every stored field of `model`."""
    found = _CONVERTERS.get(model)
    if found is None:
        found = _CONVERTERS[model] = [
            (name, column, _converter(tables.field(model, name)))
            for name, column in tables.projection(model).items()
        ]
    return found


def _converter(field: Field[Any]) -> Callable[[Any], Any]:
    """The field's DB value → Python value; for a timestamp stored as text (SQLite) the
    text is parsed by `datetime.fromisoformat` first, which reads what the ORM writes
    many times faster than the ORM's own parser (then the field sets the time zone)."""
    to_python = field.to_python_value
    if not isinstance(field, DatetimeField):
        return to_python

    def timestamp(value: Any) -> Any:
        if isinstance(value, str):
            try:
                value = datetime.fromisoformat(value)
            except ValueError:
                pass  # left to the field's own parser
        return to_python(value)

    return timestamp


async def select(model: type[M], where: str, params: Sequence[Any], order_by: str = "") -> list[M]:
    """The instances of `model` whose rows match `where` (`?` marks), through `fetch`."""
    sql = f"SELECT {columns(model, 't')} FROM {tables.table(model)} t WHERE {where}"
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
    client = connections.get("default")
    store = _store_of(client)
    if store is not None:
        return bool(await store.submit(statements))
    if client.capabilities.dialect == "postgres" and not isinstance(client, TransactionalDBClient):
        single = one_statement(statements)
        if single is not None:
            return await _run_one(client, *single)

    async def apply(connection: BaseDBAsyncClient) -> None:
        for statement in statements:
            changed = await _execute(connection, statement)
            if statement.expect is not None and changed != statement.expect:
                raise _Unexpected

    try:
        await transaction(apply)
    except _Unexpected:
        return False
    return True


async def transaction(work: Callable[[BaseDBAsyncClient], Awaitable[T]]) -> T:
    """`work` in one transaction on the ORM's connection (a savepoint inside the caller's),
    run to its end even when the caller is cancelled meanwhile (`run_to_end`). A cancel
    that lands while the ORM begins a transaction leaves its pooled connection taken for
    good (the ORM gives it back only from a transaction that began), and closing the pool
    then waits 10 s for it."""

    async def begun() -> T:
        async with in_transaction() as connection:
            return await work(connection)

    return await run_to_end(begun())


_MARK = re.compile(r"\$(\d+)")
_GUARD_FAILED = "22012"
"""SQLSTATE division_by_zero: how `one_statement`'s query refuses to stand."""


def one_statement(statements: Sequence[Statement]) -> tuple[str, list[Any]] | None:
    """A Postgres transaction as one statement, so it costs one round trip instead of one
    per statement plus BEGIN and COMMIT: each statement a data-modifying CTE (`WITH s0 AS
    (UPDATE … RETURNING 1), s1 AS (INSERT … VALUES (…), (…) RETURNING 1) SELECT …`), and
    the final SELECT divides by zero, which undoes the whole statement, when one of them
    changed another number of rows than it expected. None when the statements do not
    allow it: the CTEs all see the database as it was before the statement, so a row
    changed twice, or a table both inserted into and updated, must run in sequence."""
    ctes: list[str] = []
    checks: list[str] = []
    params: list[Any] = []
    updated: set[tuple[str, tuple[Any, ...]]] = set()
    inserted: set[str] = set()
    for n, statement in enumerate(statements):
        if not statement.table:
            return None
        if statement.key is not None:
            target = (statement.table, statement.key)
            if target in updated or statement.table in inserted or len(statement.rows) != 1:
                return None
            updated.add(target)
            sql = _renumbered(statement.sql, len(params))
            params += statement.rows[0]
        else:
            if any(table == statement.table for table, _ in updated):
                return None
            inserted.add(statement.table)
            head, _, tail = statement.sql.partition(" VALUES (")
            marks, _, rest = tail.partition(")")
            groups = []
            for row in statement.rows:
                groups.append(f"({_renumbered(marks, len(params))})")
                params += row
            sql = f"{head} VALUES {', '.join(groups)}{rest}"
        ctes.append(f"s{n} AS ({sql} RETURNING 1)")
        if statement.expect is not None:
            checks.append(f"(SELECT count(*) FROM s{n}) = {int(statement.expect)}")
    held = " AND ".join(checks) or "true"
    return f"WITH {', '.join(ctes)} SELECT 1 / ({held})::int AS held", params


def _renumbered(sql: str, offset: int) -> str:
    return _MARK.sub(lambda mark: f"${int(mark[1]) + offset}", sql)


async def _run_one(client: BaseDBAsyncClient, sql: str, params: list[Any]) -> bool:
    try:
        await client.execute_query_dict(sql, params)
    except OperationalError as exc:
        if getattr(exc.__cause__, "sqlstate", None) == _GUARD_FAILED:
            return False
        raise
    return True


async def _execute(connection: BaseDBAsyncClient, statement: Statement) -> int:
    if len(statement.rows) == 1:
        changed, _ = await connection.execute_query(statement.sql, statement.rows[0])
        return int(changed)
    await connection.execute_many(statement.sql, statement.rows)
    return len(statement.rows)


def _store_of(client: BaseDBAsyncClient) -> GroupCommit | None:
    """SQLite's store while it is open; None on Postgres, and inside a transaction
    the caller opened (its statements go through that transaction)."""
    if _sqlite is None or client.capabilities.dialect != "sqlite":
        return None
    if isinstance(client, TransactionalDBClient):
        return None
    return _sqlite


_MOST_PARAMS = 30_000
"""Bound values per statement: both SQLite (32,766) and Postgres (32,767) allow a little more."""


async def insert_new(
    model: type[Model],
    records: Sequence[Mapping[str, Any]],
    child: type[Model],
    child_records: Sequence[Mapping[str, Any]],
    link: str,
    key: str = "id",
) -> set[Any]:
    """Store many new rows in one transaction: those of `records` that meet no row stored
    already (any unique constraint, e.g. an idempotency key a concurrent writer took; they
    are left out, not an error), with the `child_records` whose `link` names one of them.
    Answers the `key` of each record stored. On SQLite's store a skipped parent's children
    are skipped by the same statement that inserts the others (the parents are then read
    back); elsewhere the parents' insert returns the keys it stored."""
    if not records:
        return set()
    name = dialect()
    parents = insert(name, model, records, skip_existing=True)
    client = connections.get("default")
    store = _store_of(client)
    keys = [record[key] for record in records]
    if store is not None:
        work = [parents]
        if child_records:
            work.append(_insert_under_parent(child, child_records, model, key, link))
        await store.submit(work)
        table = tables.table(model)
        stored_keys: set[Any] = set()
        for first in range(0, len(keys), _MOST_PARAMS):
            chunk = keys[first : first + _MOST_PARAMS]
            marks = ", ".join("?" * len(chunk))
            found = await store.submit(
                Query(f"SELECT {key} FROM {table} WHERE {key} IN ({marks})", chunk)
            )
            assert isinstance(found, list)
            stored_keys |= {row[key] for row in found}
        return stored_keys
    if name == "postgres" and not isinstance(client, TransactionalDBClient):
        single = _new_with_children(parents, key, child, child_records, link)
        if single is not None:
            return {row[key] for row in await client.execute_query_dict(*single)}

    async def apply(connection: BaseDBAsyncClient) -> set[Any]:
        stored: set[Any] = set()
        for sql, params in _multi_row(name, parents, f" RETURNING {key}"):
            stored |= {row[key] for row in await connection.execute_query_dict(sql, params)}
        kept = [record for record in child_records if record[link] in stored]
        if kept:
            for sql, params in _multi_row(name, insert(name, child, kept), ""):
                await connection.execute_query(sql, params)
        return stored

    return await transaction(apply)


def _new_with_children(
    parents: Statement,
    key: str,
    child: type[Model],
    records: Sequence[Mapping[str, Any]],
    link: str,
) -> tuple[str, list[Any]] | None:
    """Postgres: `insert_new` as one statement (one round trip): the parents' insert a
    CTE returning the keys it stored, the children's a CTE that takes only the records
    whose `link` it returned (their values cast to their columns' types, which Postgres
    cannot infer through a list of values). None beyond the bound values a statement
    takes."""
    width = len(parents.rows[0])
    params = [value for row in parents.rows for value in row]
    sql = _multi_row_sql("postgres", parents.sql, len(parents.rows), width, f" RETURNING {key}")
    ctes = [f"s0 AS ({sql})"]
    if records:
        children = insert("postgres", child, records)
        columns = list(records[0])
        if len(params) + len(children.rows) * len(columns) > _MOST_PARAMS:
            return None
        types = [tables.field(child, c).get_for_dialect("postgres", "SQL_TYPE") for c in columns]
        groups = []
        for row in children.rows:
            casts = (f"CAST(${len(params) + n} AS {t})" for n, t in enumerate(types, start=1))
            groups.append(f"({', '.join(casts)})")
            params += row
        names = ", ".join(columns)
        ctes.append(
            f"s1 AS (INSERT INTO {tables.table(child)} ({names}) SELECT {names} "
            f"FROM (VALUES {', '.join(groups)}) AS v ({names}) "
            f"WHERE v.{link} IN (SELECT {key} FROM s0))"
        )
    elif len(params) > _MOST_PARAMS:
        return None
    return f"WITH {', '.join(ctes)} SELECT {key} FROM s0", params


def _insert_under_parent(
    model: type[Model],
    records: Sequence[Mapping[str, Any]],
    parent: type[Model],
    key: str,
    link: str,
) -> Statement:
    """SQLite's `INSERT … SELECT ?, … WHERE EXISTS (the parent row)` of `records`: each
    record is stored only when the row its `link` names is (in the same transaction)."""
    plain = insert("sqlite", model, records)
    columns = list(records[0])
    sql = (
        f"INSERT INTO {tables.table(model)} ({', '.join(columns)}) "
        f"SELECT {', '.join('?' * len(columns))} "
        f"WHERE EXISTS (SELECT 1 FROM {tables.table(parent)} WHERE {key} = ?)"
    )
    rows = [[*row, record[link]] for row, record in zip(plain.rows, records, strict=True)]
    return Statement(sql, rows)


def _multi_row(name: str, statement: Statement, suffix: str) -> list[tuple[str, list[Any]]]:
    """`statement`'s rows as `INSERT … VALUES (…), (…)` statements (as many as the bound
    values per statement allow), each followed by `suffix`."""
    width = max(1, len(statement.rows[0]))
    per = max(1, _MOST_PARAMS // width)
    found: list[tuple[str, list[Any]]] = []
    for start in range(0, len(statement.rows), per):
        rows = statement.rows[start : start + per]
        sql = _multi_row_sql(name, statement.sql, len(rows), width, suffix)
        found.append((sql, [value for row in rows for value in row]))
    return found


@lru_cache(maxsize=16)
def _multi_row_sql(name: str, sql: str, count: int, width: int, suffix: str) -> str:
    """The text of `sql` (an `insert` of one row of `width` values) for `count` rows; the
    last few are kept (a batch of the same size comes again and again)."""
    head, _, tail = sql.partition(" VALUES (")
    marks, _, rest = tail.partition(")")
    groups = [
        f"({_renumbered(marks, n * width) if name == 'postgres' else marks})" for n in range(count)
    ]
    return f"{head} VALUES {', '.join(groups)}{rest}{suffix}"
