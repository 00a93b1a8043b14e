"""The reads every request makes: who holds a token (with their memberships, in the same
query), the caller's standing in a workspace, an execution's steps (alone, or read with its
state), its events after a point, a workflow by id, and whether the database answers.

They go through `statements.fetch`, so on SQLite, while the app holds the store open, they
share a trip on the store's own connection with the hot path's other work.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tortoise import connections

from runcast.domain.callers import Caller
from runcast.domain.enums import Role
from runcast.domain.events import Event
from runcast.models import (
    ApiToken,
    Execution,
    ExecutionEvent,
    Membership,
    StepRun,
    User,
    Workflow,
    Workspace,
)
from runcast.store import statements

__all__ = [
    "Credentials",
    "Standing",
    "credentials",
    "events_after",
    "membership",
    "ping",
    "steps_of",
    "steps_with_state",
    "workflow_by_id",
]


@dataclass(frozen=True)
class Standing:
    """A user's role in a workspace, with the workspace."""

    role: Role
    workspace: Workspace


@dataclass(frozen=True)
class Credentials:
    """The user holding a token, with their standing in each of their workspaces by slug
    and by id; `standings` is None when they belong to more workspaces than were read."""

    caller: Caller
    standings: dict[str, Standing] | None


async def credentials(token_hash: str, most: int) -> Credentials | None:
    """The user holding the token with this hash and, when they belong to at most `most`
    workspaces, their memberships, in one query; None for an unknown token."""
    rows = await statements.fetch(
        f"SELECT u.id AS user_id, u.name AS user_name, m.role AS member_role, "
        f"{statements.columns(Workspace, 'w')} FROM {ApiToken._meta.db_table} t "
        f"JOIN {User._meta.db_table} u ON u.id = t.user_id "
        f"LEFT JOIN {Membership._meta.db_table} m ON m.user_id = u.id "
        f"LEFT JOIN {Workspace._meta.db_table} w ON w.id = m.workspace_id "
        "WHERE t.token_hash = ? LIMIT ?",
        [token_hash, most + 1],
    )
    if not rows:
        return None
    caller = Caller(user_id=rows[0]["user_id"], user_name=rows[0]["user_name"])
    if len(rows) > most:
        return Credentials(caller, None)
    standings: dict[str, Standing] = {}
    for row in rows:
        if row["member_role"] is not None:
            standing = _standing(row)
            standings[standing.workspace.slug] = standings[standing.workspace.id] = standing
    return Credentials(caller, standings)


def _standing(row: dict[str, Any]) -> Standing:
    return Standing(role=Role(row["member_role"]), workspace=statements.instance(Workspace, row))


async def membership(user_id: str, workspace_ref: str) -> Standing | None:
    """The user's standing in the workspace named by `workspace_ref` (slug or id); None
    when the user is not a member or no such workspace exists."""
    rows = await statements.fetch(
        f"SELECT m.role AS member_role, {statements.columns(Workspace, 'w')} "
        f"FROM {Membership._meta.db_table} m "
        f"JOIN {Workspace._meta.db_table} w ON w.id = m.workspace_id "
        "WHERE m.user_id = ? AND (w.slug = ? OR w.id = ?) LIMIT 1",
        [user_id, workspace_ref, workspace_ref],
    )
    if not rows:
        return None
    return _standing(rows[0])


_STATE_COLUMNS = ("status", "error", "error_code", "completed_at", "duration_ms")
"""The execution's columns that change while it runs (the others are fixed at insert)."""


async def steps_with_state(executions: Sequence[Execution]) -> dict[str, list[StepRun]]:
    """The steps of each execution (by execution id, in order), read in one statement with
    the executions' changing columns, which are copied onto them: each one's status, steps
    and progress then agree as of one instant, even if commits landed after the executions
    themselves were read."""
    grouped: dict[str, list[StepRun]] = {execution.id: [] for execution in executions}
    if not grouped:
        return grouped
    state = ", ".join(f"e.{column} AS execution_{column}" for column in _STATE_COLUMNS)
    marks = ", ".join("?" for _ in grouped)
    sql = (
        f"SELECT {statements.columns(StepRun, 't')}, {state} "
        f"FROM {StepRun._meta.db_table} t JOIN {Execution._meta.db_table} e "
        f"ON e.id = t.execution_id WHERE t.execution_id IN ({marks}) "
        "ORDER BY t.execution_id, t.position"
    )
    state_of: dict[str, dict[str, Any]] = {}
    for row in await statements.fetch(sql, list(grouped)):
        state_of.setdefault(row["execution_id"], row)
        grouped[row["execution_id"]].append(statements.instance(StepRun, row))
    fields = Execution._meta.fields_map
    for execution in executions:
        if execution.id in state_of:
            for column in _STATE_COLUMNS:
                value = state_of[execution.id][f"execution_{column}"]
                setattr(execution, column, fields[column].to_python_value(value))
    return grouped


async def steps_of(execution_id: str) -> list[StepRun]:
    """The execution's steps in their order."""
    return await statements.select(StepRun, "t.execution_id = ?", [execution_id], "t.position")


async def workflow_by_id(workflow_id: str) -> Workflow:
    """The workflow with this id (the caller knows it exists: an execution names it)."""
    (workflow,) = await statements.select(Workflow, "t.id = ?", [workflow_id])
    return workflow


async def events_after(execution_id: str, after_seq: int) -> list[Event]:
    """The execution's stored events after `after_seq`, in order (on the ORM's connection:
    replays stay off the hot path's trips)."""
    rows = (
        await ExecutionEvent.filter(execution_id=execution_id, seq__gt=after_seq)
        .order_by("seq")
        .values_list("seq", "type", "payload")
    )
    return [Event(execution_id, seq, kind, payload) for seq, kind, payload in rows]


async def ping() -> None:
    """Raise unless the database answers a trivial query (on the ORM's connection, which
    every request that writes through the ORM depends on)."""
    await connections.get("default").execute_query("SELECT 1")
