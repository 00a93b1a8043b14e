"""Execution history's reads: a page of executions (by offset or by keyset), how many match,
their statistics (of one listing, or of many workflows at once), the workflows they belong
to, and one execution of a workflow.

Every listing read takes a `Scope` (a workspace, or one workflow) and an `ExecutionFilter`,
and sends SQL this module writes, on the ORM's connection (listings stay off the hot path's
trips on SQLite's store connection). Values are bound parameters converted with the models'
field converters, so they compare with stored values exactly as the ORM stores them. The
statistics read only columns of the covering indexes of migration `0002_history_indexes`
(`workflow_id, status, started_at, duration_ms` and `workflow_id, duration_ms, status,
started_at`), unless a filter names other columns.
"""

from __future__ import annotations

import json
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
from runcast.models import Execution, Membership, Workflow
from runcast.store import statements, tables

__all__ = [
    "DataMatch",
    "ExecutionFilter",
    "Figures",
    "Keyset",
    "Scope",
    "Window",
    "count",
    "execution_in_workflow",
    "execution_page",
    "exists_beyond",
    "statistics",
    "statistics_by_workflow",
    "workflow_names",
]

Scalar = str | int | float | bool | None
"""A JSON scalar a trigger data match compares with."""

PERCENTILES = (50, 95)
_FINAL = tuple(sorted(FINAL_EXECUTION_STATUSES))
_TABLE = tables.table(Execution)


@dataclass(frozen=True)
class Scope:
    """Whose executions a listing covers: a workspace's, or one workflow's (of that
    workspace: the caller has checked it)."""

    workspace_id: str
    workflow_id: str | None = None


@dataclass(frozen=True)
class DataMatch:
    """A member of the trigger data, reached by object keys (`path`), equal to a JSON
    scalar: same type (numbers compare by value) and same value; a missing member never
    matches."""

    path: tuple[str, ...]
    value: Scalar


@dataclass(frozen=True)
class ExecutionFilter:
    """Which of a scope's executions a listing shows: by status (empty means all), an
    inclusive startedAt range, how they were triggered (empty means all) and by whom, text
    in their error message, and members of their trigger data (all must match). Keys of
    `trigger_data` paths must be plain words (the resolver checks them); values are always
    bound parameters."""

    statuses: tuple[ExecutionStatus, ...] = ()
    started_from: datetime | None = None
    started_to: datetime | None = None
    trigger_types: tuple[TriggerType, ...] = ()
    triggered_by: str | None = None
    search: str | None = None
    trigger_data: tuple[DataMatch, ...] = ()


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


def _data_match(match: DataMatch, params: list[Any]) -> str:
    """The condition that the trigger data holds `match`: on Postgres the member reached by
    `->` (object keys only) equals the value as jsonb; on SQLite `json_extract` at a path of
    quoted keys, with `json_type` telling strings, numbers, booleans and null apart."""
    if _dialect() == "postgres":
        member = "trigger_data" + "".join(" -> CAST(? AS TEXT)" for _ in match.path)
        params += [*match.path, json.dumps(match.value)]
        return f"({member}) = CAST(CAST(? AS TEXT) AS JSONB)"
    path = "$" + "".join(f'."{key}"' for key in match.path)
    kind = _sqlite_json_types(match.value)
    params += [path, *kind]
    condition = f"json_type(trigger_data, ?) IN ({', '.join('?' for _ in kind)})"
    if isinstance(match.value, bool) or match.value is None:
        return condition
    params += [path, match.value]
    return f"{condition} AND json_extract(trigger_data, ?) = ?"


def _sqlite_json_types(value: Scalar) -> tuple[str, ...]:
    """SQLite's `json_type` names of the values equal in type to `value`."""
    if value is None:
        return ("null",)
    if isinstance(value, bool):
        return ("true",) if value else ("false",)
    if isinstance(value, int | float):
        return ("integer", "real")
    return ("text",)


def _where(scope: Scope, matching: ExecutionFilter) -> tuple[list[str], list[Any]]:
    """The conditions of a scope and a filter, each with its bound values."""
    if scope.workflow_id is not None:
        conditions, params = ["workflow_id = ?"], [scope.workflow_id]
    else:
        conditions, params = ["workspace_id = ?"], [scope.workspace_id]
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
    conditions += [_data_match(match, params) for match in matching.trigger_data]
    return conditions, params


def _keyset(conditions: list[str], params: list[Any], sign: str, key: Keyset) -> None:
    """Rows beyond `key` in the order (started_at, id): `<` older, `>` newer (`<=`, `>=`
    with the key's own row)."""
    conditions.append(f"(started_at, id) {sign} (?, ?)")
    params += [_db("started_at", key.started_at), key.id]


async def execution_page(
    scope: Scope, matching: ExecutionFilter, window: Window
) -> list[Execution]:
    """The executions of one page, newest first (then by id, descending)."""
    conditions, params = _where(scope, matching)
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


async def exists_beyond(
    scope: Scope, matching: ExecutionFilter, key: Keyset, *, newer: bool
) -> bool:
    """Whether an execution matches at `key` or beyond it: newer ones, or older ones."""
    conditions, params = _where(scope, matching)
    _keyset(conditions, params, ">=" if newer else "<=", key)
    sql = f"SELECT 1 AS found FROM {_TABLE} WHERE {' AND '.join(conditions)} LIMIT 1"
    return bool(await _rows(sql, params))


async def count(scope: Scope, matching: ExecutionFilter) -> int:
    """How many executions match."""
    conditions, params = _where(scope, matching)
    sql = f"SELECT COUNT(status) AS n FROM {_TABLE} WHERE {' AND '.join(conditions)}"
    return int((await _rows(sql, params))[0]["n"])


async def statistics(scope: Scope, matching: ExecutionFilter) -> Figures | None:
    """Counts by status and duration figures of the matching executions, all aggregated by
    the database; None when none matches."""
    conditions, params = _where(scope, matching)
    return (await _figures(" AND ".join(conditions), params, None)).get("")


async def statistics_by_workflow(user_id: str, workflow_ids: Sequence[str]) -> dict[str, Figures]:
    """The figures of each of these workflows that has executions, by workflow id, in the
    workspaces `user_id` belongs to (any other workflow is simply absent): the same two
    statements as one listing's statistics, whatever the number of workflows."""
    wanted = sorted(set(workflow_ids))
    if not wanted:
        return {}
    where = (
        f"workflow_id IN ({', '.join('?' for _ in wanted)}) AND workspace_id IN "
        f"(SELECT m.workspace_id FROM {tables.table(Membership)} m WHERE m.user_id = ?)"
    )
    return await _figures(where, [*wanted, user_id], "workflow_id")


async def _figures(where: str, params: list[Any], group: str | None) -> dict[str, Figures]:
    """The figures of the rows `where` selects, by the value of the column `group` (all in
    one group keyed "" without it). COUNT(status) rather than COUNT(id): every column read
    is then in a covering index. Two statements: the counts, then the percentiles of the
    groups that have timed executions."""
    key = f"{group} AS grp, " if group else ""
    by = f"{group}, " if group else ""
    rows = await _rows(
        f"SELECT {key}status, COUNT(status) AS n, COUNT(duration_ms) AS timed, "
        f"SUM(duration_ms) AS total_ms FROM {_TABLE} WHERE {where} GROUP BY {by}status",
        params,
    )
    grouped: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        grouped.setdefault(row["grp"] if group else "", []).append(row)
    timed = {
        name: sum(int(row["timed"]) for row in found if row["status"] in FINAL_EXECUTION_STATUSES)
        for name, found in grouped.items()
    }
    ranked = await _percentiles(where, params, group, timed) if any(timed.values()) else {}
    figures: dict[str, Figures] = {}
    for name, found in grouped.items():
        finished = [row for row in found if row["status"] in FINAL_EXECUTION_STATUSES]
        values = ranked.get(name, {})
        figures[name] = Figures(
            counts={ExecutionStatus(row["status"]): int(row["n"]) for row in found},
            timed=timed[name],
            total_ms=sum(int(row["total_ms"] or 0) for row in finished),
            percentiles={p: values.get(p) for p in PERCENTILES},
        )
    return figures


def nearest_rank(percent: int, count: int) -> int:
    """The 1-based rank of the nearest-rank percentile: ceil(percent * count / 100)."""
    return -(-percent * count // 100)


async def _percentiles(
    where: str, params: list[Any], group: str | None, timed: dict[str, int]
) -> dict[str, dict[int, int]]:
    """Nearest-rank percentiles of the durations of the finished executions that have one
    (`timed[group]` of them), by group, in one statement. Postgres' PERCENTILE_DISC ranks by
    ceil(fraction * n) in float8, which equals the exact rank for 0.5 and 0.95 (their
    doubles are exact or just below the decimal value). On SQLite each group's percentile
    is the row at that rank (`nearest_rank`), read by a scalar subquery that walks the
    `(workflow_id, duration_ms, …)` index from the nearer end: the 95th percentile is 5 %
    of the rows from the top, not 95 % from the bottom."""
    finished = (
        f"{where} AND status IN ({', '.join('?' for _ in _FINAL)}) AND duration_ms IS NOT NULL"
    )
    params = [*params, *_FINAL]
    if _dialect() == "postgres":
        key = f"{group} AS grp, " if group else ""
        ordered = ", ".join(
            f"PERCENTILE_DISC({p / 100!r}) WITHIN GROUP (ORDER BY duration_ms) AS p{p}"
            for p in PERCENTILES
        )
        by = f" GROUP BY {group}" if group else ""
        rows = await _rows(f"SELECT {key}{ordered} FROM {_TABLE} WHERE {finished}{by}", params)
        return {
            row["grp"] if group else "": {
                p: int(row[f"p{p}"]) for p in PERCENTILES if row[f"p{p}"] is not None
            }
            for row in rows
        }
    terms: list[str] = []
    values: list[Any] = []
    for name, count in timed.items():
        if not count:
            continue
        own = f"{finished} AND {group} = ?" if group else finished
        for p in PERCENTILES:
            rank = nearest_rank(p, count)
            ascending = rank - 1 <= count - rank
            terms.append(
                f"SELECT ? AS grp, ? AS pct, (SELECT duration_ms FROM {_TABLE} WHERE {own} "
                f"ORDER BY duration_ms {'ASC' if ascending else 'DESC'} LIMIT 1 OFFSET ?) AS v"
            )
            values += [
                name,
                p,
                *params,
                *([name] if group else []),
                rank - 1 if ascending else count - rank,
            ]
    found: dict[str, dict[int, int]] = {}
    for row in await _rows(" UNION ALL ".join(terms), values):
        if row["v"] is not None:
            found.setdefault(row["grp"], {})[int(row["pct"])] = int(row["v"])
    return found


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
