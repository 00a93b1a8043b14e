"""Writing step results, events and the execution's state in one transaction.

Every change to an execution goes through `commit`: the step rows, the `step`/`progress`
events (and `error`/`complete` when it finishes) and the execution row are written
together, guarded by a condition on the execution row (the runner's fencing token, or
`status = PENDING` for a cancel before start). If the guard no longer holds, nothing is
written and `StaleExecution` is raised.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tortoise.transactions import in_transaction

from runcast.engine import statements
from runcast.events.bus import EventBus
from runcast.events.log import Event, append_events
from runcast.models import Execution, StepRun
from runcast.resolvers.execution_views import progress_of, status_change
from runcast.resolvers.wire import iso, utcnow


class StaleExecution(Exception):
    """The execution changed hands or state; this writer must stop."""


@dataclass
class StepChange:
    """The new final state of one step."""

    step: StepRun
    status: str
    output: dict[str, Any] | None = None
    error: str | None = None
    attempts: int | None = None


@dataclass
class Finish:
    """The execution's final state."""

    status: str
    error: str | None = None
    error_code: str | None = None


def step_event(step: StepRun) -> dict[str, Any]:
    data: dict[str, Any] = {
        "actionId": step.action_id,
        "actionType": step.action_type,
        "status": step.status,
        "output": step.output,
        "durationMs": step.duration_ms,
    }
    if step.error is not None:
        data["error"] = step.error
    return data


def _apply(change: StepChange, now: datetime) -> None:
    step = change.step
    step.status = change.status
    step.output = change.output
    step.error = change.error
    if change.attempts is not None:
        step.attempts = change.attempts
    if step.started_at is not None:
        step.completed_at = now
        step.duration_ms = max(0, int((now - step.started_at).total_seconds() * 1000))


_STEP_FIELDS = ("status", "output", "error", "attempts", "completed_at", "duration_ms")


def _fields(step: StepRun) -> dict[str, Any]:
    return {name: getattr(step, name) for name in _STEP_FIELDS}


async def commit(
    execution: Execution,
    steps: list[StepRun],
    changes: list[StepChange],
    finish: Finish | None,
    guard: dict[str, Any],
    bus: EventBus,
    start_next: StepRun | None = None,
) -> list[Event]:
    """Apply `changes` (and `finish`) to `execution` atomically, then publish the events.

    `start_next` is marked running in the same transaction: the runner starts it right
    after this commit, and a resumed `wait` needs its start time.
    """
    now = utcnow()
    saved = [(c.step, _fields(c.step)) for c in changes]
    items: list[tuple[str, dict[str, Any]]] = []
    for change in changes:
        _apply(change, now)
        items.append(("step", step_event(change.step)))
        status = finish.status if finish and change is changes[-1] else "RUNNING"
        progress = progress_of([s.status for s in steps], status)
        progress.pop("runningSteps")
        items.append(("progress", {**progress, "status": status}))
    updates: dict[str, Any] = {}
    if finish is not None:
        duration = max(0, int((now - execution.started_at).total_seconds() * 1000))
        if finish.status == "FAILED":
            items.append(("error", {"message": f"Execution failed: {finish.error}"}))
        items.append(
            (
                "complete",
                {
                    "status": finish.status,
                    "durationMs": duration,
                    "completedAt": iso(now),
                },
            )
        )
        updates = {
            "status": finish.status,
            "error": finish.error,
            "error_code": finish.error_code,
            "completed_at": now,
            "duration_ms": duration,
            "lease_expires_at": None,
        }
    try:
        async with in_transaction() as connection:
            sets = {"last_seq": execution.last_seq + len(items), **updates}
            if (
                await statements.update(connection, Execution, sets, {"id": execution.id, **guard})
                != 1
            ):
                raise StaleExecution(execution.id)
            for change in changes:
                step = change.step
                await statements.update(connection, StepRun, _fields(step), {"id": step.id})
            if start_next is not None:
                await statements.update(
                    connection,
                    StepRun,
                    {"status": "running", "started_at": now},
                    {"id": start_next.id},
                )
            events = await append_events(connection, execution.id, execution.last_seq, items, now)
    except BaseException:
        # Rolled back (or never begun): the steps in memory must say what the database says.
        for step, fields in saved:
            for name, value in fields.items():
                setattr(step, name, value)
        raise
    execution.last_seq += len(items)
    if start_next is not None:
        start_next.status, start_next.started_at = "running", now
    for key, value in updates.items():
        setattr(execution, key, value)
    await bus.publish_events(events)
    if finish is not None:
        await bus.publish_status(execution.workspace_id, status_change(execution))  # type: ignore[attr-defined]
    return events
