"""Execution history's reads: a page of executions (by offset or by keyset), how many match,
their statistics, the workflows they belong to, and one execution of a workflow.

Every read takes an `ExecutionFilter` and sends SQL this module writes, on the ORM's
connection (listings stay off the hot path's trips on SQLite's store connection). Values
are bound parameters converted with the models' field converters, so they compare with
stored values exactly as the ORM stores them. The statistics read only columns of the
covering indexes of migration `0002_history_indexes` (`workflow_id, status, started_at,
duration_ms` and `workflow_id, duration_ms, status, started_at`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tortoise import connections

from runcast.domain.enums import (
    FINAL_EXECUTION_STATUSES,
    ExecutionStatus,
    TriggerType,
)
from runcast.models import Execution, Workflow
from runcast.store import statements, tables

__all__ = [
    "ExecutionFilter",
    "Figures",
    "Keyset",
    "Window",
    "count",
    "execution_in_workflow",
    "execution_page",
    "exists_beyond",
    "statistics",
    "workflow_names",
]

PERCENTILES = (50, 95)
_FINAL = tuple(sorted(FINAL_EXECUTION_STATUSES))
_TABLE = tables.table(Execution)


@dataclass(frozen=True)
class ExecutionFilter:
    """Which executions a listing covers: a workspace's, or one workflow's, narrowed by
    status (empty means all), an inclusive startedAt range, how they were triggered and by
    whom, and text in their error message."""

    workspace_id: str
    workflow_id: str | None = None
    statuses: tuple[ExecutionStatus, ...] = ()
    started_from: datetime | None = None
    started_to: datetime | None = None
    trigger_types: tuple[TriggerType, ...] = ()
    triggered_by: str | None = None
    search: str | None = None


@dataclass(frozen=True)
class Keyset:
    """An execution's place in the listing order: newest first, then by id, descending."""

    started_at: datetime
    id: str

    @classmethod
    def of(cls, execution: Execution) -> Keyset:
        return cls(execution.started_at, execution.id)


@dataclass(frozen=True)
class Window:
    """Which page to read: `limit` rows past `offset`, or the `limit` rows right after the
    keyset `after` (older) or, with `backward`, right before `before` (newer) — the rows
    nearest to the key come first in the read, and `execution_page` answers them in
    listing order either way."""

    limit: int
    offset: int = 0
    after: Keyset | None = None
    before: Keyset | None = None
    backward: bool = False


@dataclass(frozen=True)
class Figures:
    """What the database counted over the matching executions: how many in each status,
    how many finished ones have a duration, the sum of those durations, and their
    nearest-rank percentiles (by percent; None when none is timed)."""

    counts: dict[ExecutionStatus, int]
    timed: int
    total_ms: int
    percentiles: dict[int, int | None]


def _dialect() -> str:
    return str(connections.get("default").capabilities.dialect)


async def _rows(sql: str, params: Sequence[Any]) -> list[dict[str, Any]]:
    """The rows of `sql` (`?` marks) on the ORM's connection."""
    client = connections.get("default")
    if client.capabilities.dialect == "postgres":
        numbers = iter(range(1, sql.count("?") + 1))
        sql = "".join(f"${next(numbers)}" if char == "?" else char for char in sql)
    return list(await client.execute_query_dict(sql, list(params)))


def _db(column: str, value: Any) -> Any:
    return tables.to_db(Execution, column, value)


def _where(matching: ExecutionFilter) -> tuple[list[str], list[Any]]:
    """The conditions of a filter, each with its bound values."""
    if matching.workflow_id is not None:
        conditions, params = ["workflow_id = ?"], [matching.workflow_id]
    else:
        conditions, params = ["workspace_id = ?"], [matching.workspace_id]
    if matching.statuses:
        conditions.append(f"status IN ({', '.join('?' for _ in matching.statuses)})")
        params += [status.value for status in matching.statuses]
    if matching.started_from is not None:
        conditions.append("started_at >= ?")
        params.append(_db("started_at", matching.started_from))
    if matching.started_to is not None:
        conditions.append("started_at <= ?")
        params.append(_db("started_at", matching.started_to))
    if matching.trigger_types:
        conditions.append(f"trigger_type IN ({', '.join('?' for _ in matching.trigger_types)})")
        params += [kind.value for kind in matching.trigger_types]
    if matching.triggered_by is not None:
        conditions.append("triggered_by = ?")
        params.append(matching.triggered_by)
    if matching.search:
        escaped = matching.search.lower().translate({ord(c): f"\\{c}" for c in "\\%_"})
        conditions.append("LOWER(error) LIKE ? ESCAPE '\\'")
        params.append(f"%{escaped}%")
    return conditions, params


def _keyset(conditions: list[str], params: list[Any], sign: str, key: Keyset) -> None:
    """Rows beyond `key` in the order (started_at, id): `<` older, `>` newer (`<=`, `>=`
    with the key's own row)."""
    conditions.append(f"(started_at, id) {sign} (?, ?)")
    params += [_db("started_at", key.started_at), key.id]


async def execution_page(matching: ExecutionFilter, window: Window) -> list[Execution]:
    """The executions of one page, newest first (then by id, descending)."""
    conditions, params = _where(matching)
    if window.after is not None:
        _keyset(conditions, params, "<", window.after)
    if window.before is not None:
        _keyset(conditions, params, ">", window.before)
    order = "ASC" if window.backward else "DESC"
    sql = (
        f"SELECT {statements.columns(Execution, 'e')} FROM {_TABLE} e "
        f"WHERE {' AND '.join(conditions)} "
        f"ORDER BY e.started_at {order}, e.id {order} LIMIT ?"
    )
    params.append(window.limit)
    if window.offset:
        sql += " OFFSET ?"
        params.append(window.offset)
    page = [statements.instance(Execution, row) for row in await _rows(sql, params)]
    if window.backward:
        page.reverse()
    return page


async def exists_beyond(matching: ExecutionFilter, key: Keyset, *, newer: bool) -> bool:
    """Whether an execution matches at `key` or beyond it: newer ones, or older ones."""
    conditions, params = _where(matching)
    _keyset(conditions, params, ">=" if newer else "<=", key)
    sql = f"SELECT 1 AS found FROM {_TABLE} WHERE {' AND '.join(conditions)} LIMIT 1"
    return bool(await _rows(sql, params))


async def count(matching: ExecutionFilter) -> int:
    """How many executions match."""
    conditions, params = _where(matching)
    sql = f"SELECT COUNT(status) AS n FROM {_TABLE} WHERE {' AND '.join(conditions)}"
    return int((await _rows(sql, params))[0]["n"])


async def statistics(matching: ExecutionFilter) -> Figures:
    """Counts by status and duration figures of the matching executions, all aggregated by
    the database. COUNT(status) rather than COUNT(id): every column read is then in a
    covering index, and the table is never visited."""
    conditions, params = _where(matching)
    where = " AND ".join(conditions)
    rows = await _rows(
        f"SELECT status, COUNT(status) AS n, COUNT(duration_ms) AS timed, "
        f"SUM(duration_ms) AS total_ms FROM {_TABLE} WHERE {where} GROUP BY status",
        params,
    )
    counts = {ExecutionStatus(row["status"]): int(row["n"]) for row in rows}
    finished = [row for row in rows if row["status"] in FINAL_EXECUTION_STATUSES]
    timed = sum(int(row["timed"]) for row in finished)
    total_ms = sum(int(row["total_ms"] or 0) for row in finished)
    percentiles = await _percentiles(where, params, timed) if timed else {}
    return Figures(counts, timed, total_ms, {p: percentiles.get(p) for p in PERCENTILES})


def nearest_rank(percent: int, count: int) -> int:
    """The 1-based rank of the nearest-rank percentile: ceil(percent * count / 100)."""
    return -(-percent * count // 100)


async def _percentiles(where: str, params: list[Any], timed: int) -> dict[int, int | None]:
    """Nearest-rank percentiles of the durations of the `timed` finished executions that
    have one. Postgres' PERCENTILE_DISC ranks by ceil(fraction * n) in float8, which equals
    the exact rank for 0.5 and 0.95 (their doubles are exact or just below the decimal
    value); SQLite reads the row at that rank, counted from the nearer end."""
    finished = (
        f"{where} AND status IN ({', '.join('?' for _ in _FINAL)}) AND duration_ms IS NOT NULL"
    )
    params = [*params, *_FINAL]
    if _dialect() == "postgres":
        terms = ", ".join(
            f"PERCENTILE_DISC({p / 100!r}) WITHIN GROUP (ORDER BY duration_ms) AS p{p}"
            for p in PERCENTILES
        )
        (row,) = await _rows(f"SELECT {terms} FROM {_TABLE} WHERE {finished}", params)
        return {p: row[f"p{p}"] for p in PERCENTILES}
    values: dict[int, int | None] = {}
    for p in PERCENTILES:
        rank = nearest_rank(p, timed)
        # Walk the (workflow_id, duration_ms, …) index from the nearer end: the 95th
        # percentile is 5 % of the rows from the top, not 95 % from the bottom.
        ascending = rank - 1 <= timed - rank
        found = await _rows(
            f"SELECT duration_ms FROM {_TABLE} WHERE {finished} "
            f"ORDER BY duration_ms {'ASC' if ascending else 'DESC'} LIMIT 1 OFFSET ?",
            [*params, rank - 1 if ascending else timed - rank],
        )
        values[p] = int(found[0]["duration_ms"]) if found else None
    return values


async def workflow_names(ids: Sequence[str]) -> dict[str, str]:
    """The names of the workflows with these ids, by id."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    rows = await _rows(
        f"SELECT id, name FROM {tables.table(Workflow)} "
        f"WHERE id IN ({', '.join('?' for _ in wanted)})",
        wanted,
    )
    return {row["id"]: row["name"] for row in rows}


async def execution_in_workflow(workflow_id: str, execution_id: str) -> Execution | None:
    """The execution with this id, if it belongs to the workflow."""
    sql = (
        f"SELECT {statements.columns(Execution, 'e')} FROM {_TABLE} e "
        "WHERE e.id = ? AND e.workflow_id = ?"
    )
    rows = await _rows(sql, [execution_id, workflow_id])
    return statements.instance(Execution, rows[0]) if rows else None
