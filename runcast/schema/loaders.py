"""Batched loading for one request (Strawberry's DataLoader): the loads of one kind made
while a request resolves one level of its selection reach the database as one statement,
so a page of executions with their workflows and steps costs a fixed number of queries.

Every loader reads for one caller and only rows of the workspaces that caller belongs to
(`store.reads` scopes each statement by membership): a key naming another workspace's row,
or no row at all, loads None, never the row.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from strawberry.dataloader import DataLoader

from runcast.domain import records
from runcast.domain.enums import Role
from runcast.resolvers import history
from runcast.resolvers import records as to_record
from runcast.store import reads

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
D = TypeVar("D")


@dataclass(frozen=True, slots=True)
class MemberWorkspace:
    """A workspace as its member sees it: with the member's role."""

    id: str
    slug: str
    name: str
    role: Role


@dataclass(frozen=True, slots=True)
class Loaders:
    """The loaders of one request, all reading for the same caller."""

    workflows: DataLoader[str, records.Workflow | None]
    executions: DataLoader[str, records.Execution | None]
    tasks: DataLoader[str, records.Task | None]
    notifications: DataLoader[str, records.Notification | None]
    workspaces: DataLoader[str, MemberWorkspace | None]
    workspace_workflows: DataLoader[str, tuple[records.Workflow, ...]]
    steps: DataLoader[str, tuple[records.Step, ...]]
    workflow_statistics: DataLoader[str, records.Statistics]


def _by_key(
    read: Callable[[list[K]], Awaitable[Mapping[K, V]]], missing: D
) -> Callable[[list[K]], Awaitable[list[V | D]]]:
    """A batch function answering, for each key in order, what `read` found for it (or
    `missing`)."""

    async def load(keys: list[K]) -> list[V | D]:
        found = await read(keys)
        return [found.get(key, missing) for key in keys]

    return load


def _indexed(rows: Iterable[Any], record: Callable[[Any], V]) -> dict[str, V]:
    return {row.id: record(row) for row in rows}


def loaders_for(user_id: str, *, cache: bool = True) -> Loaders:
    """Loaders reading for `user_id`. `cache=False` still batches but remembers nothing,
    for a websocket whose later operations must see fresh rows."""

    async def workflows(ids: Sequence[str]) -> dict[str, records.Workflow]:
        return _indexed(await reads.workflows_by_ids(user_id, ids), to_record.workflow)

    async def executions(ids: Sequence[str]) -> dict[str, records.Execution]:
        return _indexed(await reads.executions_by_ids(user_id, ids), to_record.execution)

    async def tasks(ids: Sequence[str]) -> dict[str, records.Task]:
        return _indexed(await reads.tasks_by_ids(user_id, ids), to_record.task)

    async def notifications(ids: Sequence[str]) -> dict[str, records.Notification]:
        return _indexed(await reads.notifications_by_ids(user_id, ids), to_record.notification)

    async def workspaces(ids: Sequence[str]) -> dict[str, MemberWorkspace]:
        standings = await reads.standings_by_workspace_ids(user_id, ids)
        return {
            s.workspace.id: MemberWorkspace(
                s.workspace.id, s.workspace.slug, s.workspace.name, s.role
            )
            for s in standings
        }

    async def workspace_workflows(ids: Sequence[str]) -> dict[str, tuple[records.Workflow, ...]]:
        grouped = await reads.workflows_of_workspaces(user_id, ids)
        return {key: tuple(map(to_record.workflow, rows)) for key, rows in grouped.items()}

    async def steps(ids: Sequence[str]) -> dict[str, tuple[records.Step, ...]]:
        grouped = await reads.steps_by_execution_ids(user_id, ids)
        return {key: tuple(to_record.step(row) for row in rows) for key, rows in grouped.items()}

    async def statistics(ids: list[str]) -> list[records.Statistics]:
        return await history.workflow_statistics(user_id, ids)

    def loader(load: Callable[[list[K]], Awaitable[list[V]]]) -> DataLoader[K, V]:
        return DataLoader(load_fn=load, cache=cache)

    return Loaders(
        workflows=loader(_by_key(workflows, None)),
        executions=loader(_by_key(executions, None)),
        tasks=loader(_by_key(tasks, None)),
        notifications=loader(_by_key(notifications, None)),
        workspaces=loader(_by_key(workspaces, None)),
        workspace_workflows=loader(_by_key(workspace_workflows, ())),
        steps=loader(_by_key(steps, ())),
        workflow_statistics=loader(statistics),
    )
