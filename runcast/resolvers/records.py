"""Domain records from the models' rows: the one place a row becomes what the APIs show."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from enum import StrEnum
from functools import partial
from typing import Any, TypeVar

from runcast.domain import records
from runcast.domain.enums import (
    ExecutionStatus,
    OnError,
    StepStatus,
    TaskStatus,
    TriggerType,
    WorkflowStatus,
)
from runcast.models import Execution, Notification, StepRun, Task, Workflow
from runcast.resolvers.schedule_sync import next_runs
from runcast.resolvers.triggers import trigger_view, webhook_url

_E = TypeVar("_E", bound=StrEnum)


def _member_of(enum: type[_E]) -> Callable[[str], _E]:
    """The member of `enum` with a stored value, looked up in a dict: a page of executions
    converts hundreds of statuses, and a dict lookup costs a fraction of `enum(value)`."""
    return {member.value: member for member in enum}.__getitem__


_execution_status = _member_of(ExecutionStatus)
_step_status = _member_of(StepStatus)
_trigger_type = _member_of(TriggerType)


def action(stored: dict[str, Any]) -> records.Action:
    return records.Action(
        id=stored["id"],
        type=stored["type"],
        config=stored.get("config", {}),
        on_error=OnError(stored.get("onError", OnError.STOP)),
        name=stored.get("name"),
        timeout=stored.get("timeout"),
    )


def workflow(row: Workflow) -> records.Workflow:
    return records.Workflow(
        id=row.id,
        workspace_id=row.workspace_id,
        name=row.name,
        description=row.description,
        status=WorkflowStatus(row.status),
        trigger=trigger_view(row),
        timeout_ms=row.timeout_ms,
        actions=tuple(action(a) for a in row.actions),
        created_at=row.created_at,
        updated_at=row.updated_at,
        webhook_url=webhook_url(row),
        concurrency=row.concurrency,
        next_runs=records.Lazy(partial(next_runs, row)),
    )


def workflow_brief(row: Workflow, *, with_state: bool = True) -> records.WorkflowBrief:
    """The workflow an execution read on its own belongs to; with its trigger and status
    (the status answer), or without them (an execution's history, as the seed shows it)."""
    if not with_state:
        return records.WorkflowBrief(id=row.id, name=row.name, description=row.description)
    return records.WorkflowBrief(
        id=row.id,
        name=row.name,
        description=row.description,
        trigger=trigger_view(row),
        status=WorkflowStatus(row.status),
    )


def step(row: StepRun) -> records.Step:
    return records.Step(
        action_id=row.action_id,
        action_type=row.action_type,
        status=_step_status(row.status),
        output=row.output,
        duration_ms=row.duration_ms,
        error=row.error,
        started_at=row.started_at,
        completed_at=row.completed_at,
        attempts=row.attempts,
    )


def execution(
    row: Execution,
    steps: Sequence[StepRun] | None = None,
    *,
    workflow: records.WorkflowBrief | records.WorkflowRef | None = None,
    with_summary: bool = False,
) -> records.Execution:
    """The execution; with its steps (and their summary) when they are given."""
    summary = None
    if with_summary and steps is not None:
        summary = records.ExecutionSummary.of([s.status for s in steps])
    return records.Execution(
        id=row.id,
        workflow_id=row.workflow_id,
        workspace_id=row.workspace_id,
        status=_execution_status(row.status),
        triggered_by=row.triggered_by,
        trigger_type=_trigger_type(row.trigger_type),
        trigger_data=row.trigger_data,
        variables=row.variables,
        started_at=row.started_at,
        completed_at=row.completed_at,
        duration_ms=row.duration_ms,
        is_simulation=row.is_simulation,
        error=row.error,
        error_code=row.error_code,
        steps=None if steps is None else tuple(step(s) for s in steps),
        workflow=workflow,
        execution_summary=summary,
    )


def task(row: Task) -> records.Task:
    return records.Task(
        id=row.id,
        execution_id=row.execution_id,
        title=row.title,
        description=row.description,
        priority=row.priority,
        assigned_to=row.assigned_to,
        status=TaskStatus(row.status),
        created_at=row.created_at,
    )


def notification(row: Notification) -> records.Notification:
    return records.Notification(
        id=row.id,
        execution_id=row.execution_id,
        message=row.message,
        recipient=row.recipient,
        created_at=row.created_at,
    )
