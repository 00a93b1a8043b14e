"""Writing step results, events and the execution's state in one transaction.

Every change to an execution goes through `commit`: the step rows, the `step`/`progress`
events (and `error`/`complete` when it finishes) and the execution row are written
together, guarded by a condition on the execution row (the runner's fencing token, or
`status = PENDING` for a cancel before start). If the guard no longer holds, nothing is
written and `StaleExecution` is raised. A new execution and its steps are inserted
together by `store_new`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from runcast.domain.clock import iso, utcnow
from runcast.domain.enums import ExecutionStatus, StepStatus
from runcast.domain.events import progress_of, status_change, step_event
from runcast.engine.actions.base import StoredRow
from runcast.events.bus import EventBus
from runcast.events.log import Event, insert_events
from runcast.models import Execution, StepRun
from runcast.store import statements
from runcast.tasks import runs_to_end


class StaleExecution(Exception):
    """The execution changed hands or state; this writer must stop."""


@dataclass
class StepChange:
    """The new final state of one step."""

    step: StepRun
    status: StepStatus
    output: dict[str, Any] | None = None
    error: str | None = None
    attempts: int | None = None
    stored: list[StoredRow] = field(default_factory=list)
    """Rows the action stores with this result (see `StoringResult`)."""


@dataclass
class Finish:
    """The execution's final state."""

    status: ExecutionStatus
    error: str | None = None
    error_code: str | None = None


async def store_new(execution: Execution, steps: list[StepRun]) -> None:
    """Insert a new execution and its steps in one transaction (IntegrityError when its
    idempotency key is taken)."""
    dialect = statements.dialect()
    batch = [statements.insert(dialect, Execution, [statements.stored_fields(execution)])]
    if steps:
        records = [statements.stored_fields(step, skip=("id",)) for step in steps]
        batch.append(statements.insert(dialect, StepRun, records))
    await statements.run(batch)


def start_statement(dialect: str, step: StepRun, started_at: datetime) -> statements.Statement:
    """Mark `step` running since `started_at` and count the attempt this begins.

    The count is stored as the run starts (in the write that starts it), so a run cut off
    by a crash or a timeout still counts; `mark_started` mirrors it in memory.
    """
    return statements.update(
        dialect,
        StepRun,
        {"status": StepStatus.RUNNING, "started_at": started_at, "attempts": step.attempts + 1},
        step_key(step),
    )


def mark_started(step: StepRun, started_at: datetime) -> None:
    """What `start_statement` stored, in memory."""
    step.status, step.started_at = StepStatus.RUNNING, started_at
    step.attempts += 1


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


@runs_to_end
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

    `start_next` is marked running (its attempt counted) in the same transaction: the
    runner starts it right after this commit, and a resumed `wait` needs its start time.
    A cancel of the caller waits for the commit to end, so the objects in memory always say
    what was stored.
    """
    now = utcnow()
    saved = [(c.step, _fields(c.step)) for c in changes]
    items: list[tuple[str, dict[str, Any]]] = []
    for change in changes:
        _apply(change, now)
        items.append(("step", step_event(change.step)))
        status = finish.status if finish and change is changes[-1] else ExecutionStatus.RUNNING
        progress = progress_of([s.status for s in steps], status)
        progress.pop("runningSteps")
        items.append(("progress", {**progress, "status": status}))
    updates: dict[str, Any] = {}
    if finish is not None:
        duration = max(0, int((now - execution.started_at).total_seconds() * 1000))
        if finish.status == ExecutionStatus.FAILED:
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
    dialect = statements.dialect()
    sets = {"last_seq": execution.last_seq + len(items), **updates}
    batch = [statements.update(dialect, Execution, sets, {"id": execution.id, **guard}, expect=1)]
    batch += [
        statements.update(dialect, StepRun, _fields(c.step), step_key(c.step)) for c in changes
    ]
    batch += [
        statements.insert(dialect, row.model, [row.record], skip_existing=True)
        for change in changes
        for row in change.stored
    ]
    if start_next is not None:
        batch.append(start_statement(dialect, start_next, now))
    insert, events = insert_events(dialect, execution.id, execution.last_seq, items, now)
    batch.append(insert)
    try:
        if not await statements.run(batch):
            raise StaleExecution(execution.id)
    except BaseException:
        # Rolled back (or never begun): the steps in memory must say what the database says.
        for step, fields in saved:
            for name, value in fields.items():
                setattr(step, name, value)
        raise
    execution.last_seq += len(items)
    if start_next is not None:
        mark_started(start_next, now)
    for key, value in updates.items():
        setattr(execution, key, value)
    await bus.publish_events(events)
    if finish is not None:
        await bus.publish_status(execution.workspace_id, status_change(execution))
    return events


def step_key(step: StepRun) -> dict[str, Any]:
    """The columns that name one step row."""
    return {"execution_id": step.execution_id, "position": step.position}
