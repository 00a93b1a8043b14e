"""The reads every request makes: who holds a token (with their memberships, in the same
query), the caller's standing in a workspace, an execution's steps (alone, or read with its
state), its events after a point, a workflow by id, and whether the database answers; and
the batch reads of GraphQL's loaders: rows by ids (workflows, executions, tasks,
notifications, workspaces, steps), each in one statement and only in the workspaces the
reading user belongs to (workflow statistics are `store.history.statistics_by_workflow`).

They go through `statements.fetch`, so on SQLite, while the app holds the store open, they
share a trip on the store's own connection with the hot path's other work.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from tortoise import connections

from runcast.domain.callers import Caller
from runcast.domain.enums import Role, WorkflowStatus
from runcast.domain.events import Event
from runcast.models import (
    ApiToken,
    Execution,
    ExecutionEvent,
    Membership,
    Notification,
    StepRun,
    Task,
    User,
    Workflow,
    Workspace,
)
from runcast.store import statements, tables

M = TypeVar("M", Workflow, Execution, Task, Notification)

__all__ = [
    "Credentials",
    "Standing",
    "credentials",
    "event_followers",
    "events_after",
    "executions_by_ids",
    "membership",
    "notifications_by_ids",
    "ping",
    "standings_by_workspace_ids",
    "steps_by_execution_ids",
    "steps_of",
    "steps_with_state",
    "tasks_by_ids",
    "workflow_by_hook",
    "workflow_by_id",
    "workflows_by_ids",
    "workflows_of_workspaces",
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
        f"{statements.columns(Workspace, 'w')} FROM {tables.table(ApiToken)} t "
        f"JOIN {tables.table(User)} u ON u.id = t.user_id "
        f"LEFT JOIN {tables.table(Membership)} m ON m.user_id = u.id "
        f"LEFT JOIN {tables.table(Workspace)} w ON w.id = m.workspace_id "
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
        f"FROM {tables.table(Membership)} m "
        f"JOIN {tables.table(Workspace)} w ON w.id = m.workspace_id "
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
        f"FROM {tables.table(StepRun)} t JOIN {tables.table(Execution)} e "
        f"ON e.id = t.execution_id WHERE t.execution_id IN ({marks}) "
        "ORDER BY t.execution_id, t.position"
    )
    state_of: dict[str, dict[str, Any]] = {}
    for row in await statements.fetch(sql, list(grouped)):
        state_of.setdefault(row["execution_id"], row)
        grouped[row["execution_id"]].append(statements.instance(StepRun, row))
    for execution in executions:
        if execution.id in state_of:
            for column in _STATE_COLUMNS:
                value = state_of[execution.id][f"execution_{column}"]
                setattr(execution, column, tables.to_python(Execution, column, value))
    return grouped


async def steps_of(execution_id: str) -> list[StepRun]:
    """The execution's steps in their order."""
    return await statements.select(StepRun, "t.execution_id = ?", [execution_id], "t.position")


async def workflow_by_id(workflow_id: str) -> Workflow:
    """The workflow with this id (the caller knows it exists: an execution names it)."""
    (workflow,) = await statements.select(Workflow, "t.id = ?", [workflow_id])
    return workflow


async def workflow_by_hook(hook_id: str) -> Workflow | None:
    """The workflow whose webhook has this id, if any (a webhook delivery's one read)."""
    found = await statements.select(Workflow, "t.hook_id = ?", [hook_id])
    return found[0] if found else None


async def event_followers(workspace_id: str, event_name: str) -> list[Workflow]:
    """The ACTIVE workflows of the workspace whose trigger names this event, oldest first
    (their filters are the caller's to apply)."""
    return await statements.select(
        Workflow,
        "t.workspace_id = ? AND t.event_name = ? AND t.status = ?",
        [workspace_id, event_name, WorkflowStatus.ACTIVE.value],
        order_by="t.created_at, t.id",
    )


def _marks(values: Sequence[Any]) -> str:
    return ", ".join("?" for _ in values)


_MEMBER_OF = (
    f"t.workspace_id IN (SELECT m.workspace_id FROM {tables.table(Membership)} m "
    "WHERE m.user_id = ?)"
)
"""Rows of the workspaces the user named by the last parameter belongs to (any role reads)."""


async def _visible(model: type[M], user_id: str, ids: Sequence[str]) -> list[M]:
    """The rows of `model` with these ids in the workspaces `user_id` belongs to, in one
    statement: a row of any other workspace is simply not among them."""
    if not ids:
        return []
    return await statements.select(
        model, f"t.id IN ({_marks(ids)}) AND {_MEMBER_OF}", [*ids, user_id]
    )


async def workflows_by_ids(user_id: str, ids: Sequence[str]) -> list[Workflow]:
    """The workflows with these ids that `user_id` may read (in any order)."""
    return await _visible(Workflow, user_id, ids)


async def workflows_of_workspaces(
    user_id: str, workspace_ids: Sequence[str]
) -> dict[str, list[Workflow]]:
    """The workflows of each of these workspaces `user_id` belongs to (by workspace id,
    newest first, as the workflow listing orders them), in one statement."""
    grouped: dict[str, list[Workflow]] = {}
    if not workspace_ids:
        return grouped
    rows = await statements.select(
        Workflow,
        f"t.workspace_id IN ({_marks(workspace_ids)}) AND {_MEMBER_OF}",
        [*workspace_ids, user_id],
        "t.created_at DESC, t.id",
    )
    for row in rows:
        grouped.setdefault(row.workspace_id, []).append(row)
    return grouped


async def executions_by_ids(user_id: str, ids: Sequence[str]) -> list[Execution]:
    """The executions with these ids that `user_id` may read (in any order)."""
    return await _visible(Execution, user_id, ids)


async def tasks_by_ids(user_id: str, ids: Sequence[str]) -> list[Task]:
    """The tasks with these ids that `user_id` may read (in any order)."""
    return await _visible(Task, user_id, ids)


async def notifications_by_ids(user_id: str, ids: Sequence[str]) -> list[Notification]:
    """The notifications with these ids that `user_id` may read (in any order)."""
    return await _visible(Notification, user_id, ids)


async def standings_by_workspace_ids(user_id: str, ids: Sequence[str]) -> list[Standing]:
    """The user's standing in each of these workspaces they belong to, in one statement."""
    if not ids:
        return []
    rows = await statements.fetch(
        f"SELECT m.role AS member_role, {statements.columns(Workspace, 'w')} "
        f"FROM {tables.table(Membership)} m "
        f"JOIN {tables.table(Workspace)} w ON w.id = m.workspace_id "
        f"WHERE m.user_id = ? AND w.id IN ({_marks(ids)})",
        [user_id, *ids],
    )
    return [_standing(row) for row in rows]


async def steps_by_execution_ids(user_id: str, ids: Sequence[str]) -> dict[str, list[StepRun]]:
    """The steps of each of these executions that `user_id` may read (by execution id, in
    order), in one statement; executions of other workspaces are absent."""
    grouped: dict[str, list[StepRun]] = {}
    if not ids:
        return grouped
    member_of = _MEMBER_OF.replace("t.workspace_id", "e.workspace_id")
    sql = (
        f"SELECT {statements.columns(StepRun, 't')} FROM {tables.table(StepRun)} t "
        f"JOIN {tables.table(Execution)} e ON e.id = t.execution_id "
        f"WHERE t.execution_id IN ({_marks(ids)}) AND {member_of} "
        "ORDER BY t.execution_id, t.position"
    )
    for row in await statements.fetch(sql, [*ids, user_id]):
        grouped.setdefault(row["execution_id"], []).append(statements.instance(StepRun, row))
    return grouped


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
