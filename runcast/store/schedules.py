"""Schedules' SQL: the schedules due now (with their workflows), which of them have an
execution under way, and the guarded moves of a schedule's next and buffered tick.

Every write is guarded on the value it read (compare and set), so when several nodes
handle the same tick, one move wins and the others change nothing; the execution of a
tick is made unique by its idempotency key, not here (see `runcast.engine.schedules`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from functools import lru_cache
from typing import Any

from runcast.domain.enums import ExecutionStatus, TriggerType, WorkflowStatus
from runcast.models import Execution, Schedule, Workflow
from runcast.store import statements, tables

__all__ = [
    "Due",
    "Move",
    "buffered",
    "busy",
    "clear_buffer",
    "delete",
    "due",
    "get",
    "move",
    "save",
    "set_paused",
    "unscheduled",
]


@dataclass(frozen=True)
class Due:
    """A schedule with its workflow, read together."""

    schedule: Schedule
    workflow: Workflow


def _db(column: str, value: Any) -> Any:
    return tables.to_db(Schedule, column, value)


def _select(condition: str) -> str:
    """Schedules with their workflows, unpaused and ACTIVE, that meet `condition`. (The
    columns are read when the ORM is set up, which completes the models' fields.)"""
    return (
        f"SELECT {statements.columns(Schedule, 's')}, {statements.columns(Workflow, 'w')} "
        f"FROM {tables.table(Schedule)} s JOIN {tables.table(Workflow)} w "
        f"ON w.id = s.workflow_id WHERE s.paused = ? AND w.status = ? AND {condition}"
    )


def _pairs(rows: list[dict[str, Any]]) -> list[Due]:
    """Rows of `_select` as schedules with their workflows. The two tables share no column
    name but `workflow_id` (the schedule's key, the workflow's `id`)."""
    return [
        Due(statements.instance(Schedule, row), statements.instance(Workflow, row)) for row in rows
    ]


async def due(now: datetime, limit: int) -> list[Due]:
    """Unpaused schedules of ACTIVE workflows whose next tick is at or before `now`,
    earliest first."""
    rows = await statements.fetch(
        _select("s.next_tick_at <= ? ORDER BY s.next_tick_at LIMIT ?"),
        [_db("paused", False), WorkflowStatus.ACTIVE.value, _db("next_tick_at", now), limit],
    )
    return _pairs(rows)


async def buffered(limit: int) -> list[Due]:
    """Unpaused schedules of ACTIVE workflows holding a buffered tick."""
    rows = await statements.fetch(
        _select("s.buffered_tick_at IS NOT NULL ORDER BY s.buffered_tick_at LIMIT ?"),
        [_db("paused", False), WorkflowStatus.ACTIVE.value, limit],
    )
    return _pairs(rows)


async def busy(workflow_ids: Sequence[str]) -> set[str]:
    """Those of the workflows with a PENDING or RUNNING execution started by a schedule."""
    if not workflow_ids:
        return set()
    marks = ", ".join("?" * len(workflow_ids))
    rows = await statements.fetch(
        f"SELECT DISTINCT workflow_id FROM {tables.table(Execution)} "
        f"WHERE workflow_id IN ({marks}) AND trigger_type = ? AND status IN (?, ?)",
        [
            *workflow_ids,
            TriggerType.SCHEDULE.value,
            ExecutionStatus.PENDING.value,
            ExecutionStatus.RUNNING.value,
        ],
    )
    return {row["workflow_id"] for row in rows}


@dataclass(frozen=True)
class Move:
    """Where a schedule's next and buffered tick go, from the values read."""

    workflow_id: str
    read_next: datetime
    next_tick_at: datetime
    read_buffered: datetime | None
    buffered_tick_at: datetime | None


async def move(moves: Sequence[Move]) -> None:
    """Set each schedule's next and buffered tick where they are still those read, in one
    transaction (on Postgres one statement per `MOVES_PER_STATEMENT`); a schedule another
    node moved first (or that changed meanwhile) stays as it is."""
    if not moves:
        return
    dialect = statements.dialect()
    if dialect == "postgres":
        for first in range(0, len(moves), MOVES_PER_STATEMENT):
            chunk = moves[first : first + MOVES_PER_STATEMENT]
            await statements.fetch(_moves_sql(len(chunk)), _move_values(chunk), writes=True)
        return
    batch = []
    for move in moves:
        where = {
            "workflow_id": move.workflow_id,
            "next_tick_at": move.read_next,
            "buffered_tick_at": move.read_buffered,  # None: IS NULL
        }
        sets = {"next_tick_at": move.next_tick_at, "buffered_tick_at": move.buffered_tick_at}
        batch.append(statements.update(dialect, Schedule, sets, where))
    await statements.run(batch)


MOVES_PER_STATEMENT = 5000
"""Moves in one statement on Postgres (5 values each, well within its 32,767)."""


@lru_cache(maxsize=8)
def _moves_sql(count: int) -> str:
    """Postgres: `count` moves as one `UPDATE … FROM` a list of values, each guarded on the
    ticks read (a buffered tick read as NULL must still be NULL). One statement, where an
    UPDATE per schedule costs Postgres a plan per schedule."""
    row = f"(CAST(? AS TEXT), {', '.join(['CAST(? AS TIMESTAMPTZ)'] * 4)})"
    return (
        "WITH v (workflow_id, read_next, next_tick_at, read_buffered, buffered_tick_at) "
        f"AS (VALUES {', '.join([row] * count)}) "
        f"UPDATE {tables.table(Schedule)} AS s "
        "SET next_tick_at = v.next_tick_at, buffered_tick_at = v.buffered_tick_at FROM v "
        "WHERE s.workflow_id = v.workflow_id AND s.next_tick_at = v.read_next "
        "AND s.buffered_tick_at IS NOT DISTINCT FROM v.read_buffered"
    )


def _move_values(moves: Sequence[Move]) -> list[Any]:
    return [
        value
        for move in moves
        for value in (
            move.workflow_id,
            _db("next_tick_at", move.read_next),
            _db("next_tick_at", move.next_tick_at),
            _db("buffered_tick_at", move.read_buffered),
            _db("buffered_tick_at", move.buffered_tick_at),
        )
    ]


async def clear_buffer(workflow_id: str, tick: datetime) -> bool:
    """Drop the schedule's buffered tick if it is still `tick`."""
    statement = statements.update(
        statements.dialect(),
        Schedule,
        {"buffered_tick_at": None},
        {"workflow_id": workflow_id, "buffered_tick_at": tick},
        expect=1,
    )
    return await statements.run([statement])


async def get(workflow_id: str) -> Schedule | None:
    found = await statements.select(Schedule, "t.workflow_id = ?", [workflow_id])
    return found[0] if found else None


_KEY = "workflow_id"


async def save(schedule: Schedule) -> None:
    """Store the schedule, replacing the workflow's previous one (one upsert)."""
    record = statements.stored_fields(schedule)
    statement = statements.insert(statements.dialect(), Schedule, [record])
    updates = ", ".join(f"{column} = excluded.{column}" for column in record if column != _KEY)
    upsert = f"{statement.sql} ON CONFLICT ({_KEY}) DO UPDATE SET {updates}"
    await statements.run([replace(statement, sql=upsert)])


async def delete(workflow_id: str) -> None:
    await Schedule.filter(workflow_id=workflow_id).delete()


async def set_paused(workflow_id: str, paused: bool, next_tick_at: datetime) -> None:
    """Pause or resume; a pause drops the buffered tick, and resuming starts from
    `next_tick_at` (ticks while paused are not made up)."""
    sets = {"paused": paused, "next_tick_at": next_tick_at, "buffered_tick_at": None}
    statement = statements.update(statements.dialect(), Schedule, sets, {_KEY: workflow_id})
    await statements.run([statement])


async def unscheduled() -> list[Workflow]:
    """Workflows whose trigger may be a schedule but that have no schedule row (saved
    before schedules existed); the caller checks their triggers."""
    return await statements.select(
        Workflow,
        f"NOT EXISTS (SELECT 1 FROM {tables.table(Schedule)} s WHERE s.workflow_id = t.id) "
        "AND CAST(t.trigger AS TEXT) LIKE ?",
        ["%schedule%"],
    )
