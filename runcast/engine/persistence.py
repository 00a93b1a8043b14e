"""Recording an execution's progress: step results, events and its state in one write.

Every change to a running execution goes through `Recorder.commit`: the step rows, the
`step`/`progress` events (and `error`/`complete` when it finishes) and the execution row
are one `ExecutionWrite`, guarded by a condition on the execution row (the runner's
fencing token, or `status = PENDING` for a cancel before start). If the guard no longer
holds, nothing is written and `StaleExecution` is raised. Events are published after the
write.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from runcast.domain.clock import iso, utcnow
from runcast.domain.enums import ExecutionStatus, StepStatus
from runcast.domain.events import Event, progress_of, status_change, step_event
from runcast.events.bus import EventBus
from runcast.models import Execution, StepRun
from runcast.store.interface import (
    ExecutionStore,
    ExecutionWrite,
    Guard,
    Outcome,
    StepStart,
    StoredRow,
)
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


@dataclass(frozen=True)
class Finish:
    """The execution's final state."""

    status: ExecutionStatus
    error: str | None = None
    error_code: str | None = None


@dataclass(frozen=True)
class Transition:
    """What one commit changes: steps that reached a final state, the execution's end (if
    it ends), and the step that starts next (marked running, its attempt counted, in the
    same write: the runner starts it right after, and a resumed `wait` needs its start)."""

    changes: list[StepChange]
    finish: Finish | None = None
    start_next: StepRun | None = None


def mark_started(step: StepRun, started_at: datetime) -> None:
    """What a `StepStart` stored, in memory."""
    step.status, step.started_at = StepStatus.RUNNING, started_at
    step.attempts += 1


def begun_with_request(execution: Execution, steps: list[StepRun]) -> StepRun | None:
    """Make a new execution that runs where it was requested RUNNING with its first step
    started, in memory: its insert stores it so, one write fewer than `Recorder.begin`.
    Answers the started step (None for an execution without steps)."""
    execution.status = ExecutionStatus.RUNNING
    first = steps[0] if steps else None
    if first is not None:
        mark_started(first, utcnow())
    return first


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


def _events(execution: Execution, items: list[tuple[str, dict[str, Any]]]) -> list[Event]:
    """`items` as the execution's next events."""
    return [
        Event(execution.id, execution.last_seq + offset, kind, data)
        for offset, (kind, data) in enumerate(items, start=1)
    ]


class Recorder:
    """Writes executions through the store and publishes their events on the bus."""

    def __init__(self, store: ExecutionStore, bus: EventBus) -> None:
        self.store = store
        self.bus = bus

    @runs_to_end
    async def start_step(self, step: StepRun, started_at: datetime) -> None:
        """Mark `step` running since `started_at`, counting its attempt, in its own write."""
        await self.store.write(
            ExecutionWrite(step.execution_id, started_at, start=StepStart(step, started_at))
        )
        mark_started(step, started_at)

    @runs_to_end
    async def count_retry(self, step: StepRun) -> None:
        """Store that `step` begins one more attempt (a retry) before it runs."""
        await self.store.count_attempt(step)
        step.attempts += 1

    @runs_to_end
    async def begin(self, execution: Execution, guard: Guard, first: StepRun | None) -> bool:
        """Move an execution taken straight from its request from PENDING to RUNNING and
        start its first step, in one write; False when the guard no longer holds."""
        now = utcnow()
        started_at = (first.started_at or now) if first is not None else now
        start = StepStart(first, started_at) if first is not None else None
        change = ExecutionWrite(
            execution.id, now, guard, status=ExecutionStatus.RUNNING, start=start
        )
        if not await self.store.write(change):
            return False
        execution.status = ExecutionStatus.RUNNING
        if first is not None:
            mark_started(first, started_at)
        return True

    @runs_to_end
    async def commit(
        self, execution: Execution, steps: list[StepRun], transition: Transition, guard: Guard
    ) -> list[Event]:
        """Apply `transition` to `execution` atomically, then publish the events.

        A cancel of the caller waits for the commit to end, so the objects in memory always
        say what was stored.
        """
        now = utcnow()
        changes, finish = transition.changes, transition.finish
        saved = [(c.step, _fields(c.step)) for c in changes]
        items: list[tuple[str, dict[str, Any]]] = []
        for change in changes:
            _apply(change, now)
            items.append(("step", step_event(change.step)))
            last = finish is not None and change is changes[-1]
            status = finish.status if finish is not None and last else ExecutionStatus.RUNNING
            progress = progress_of([s.status for s in steps], status)
            progress.pop("runningSteps")
            items.append(("progress", {**progress, "status": status}))
        outcome = None
        if finish is not None:
            duration = max(0, int((now - execution.started_at).total_seconds() * 1000))
            if finish.status == ExecutionStatus.FAILED:
                items.append(("error", {"message": f"Execution failed: {finish.error}"}))
            completed = {"status": finish.status, "durationMs": duration, "completedAt": iso(now)}
            items.append(("complete", completed))
            outcome = Outcome(finish.status, finish.error, finish.error_code, now, duration)
        events = _events(execution, items)
        start = transition.start_next
        write = ExecutionWrite(
            execution.id,
            now,
            guard,
            last_seq=execution.last_seq + len(events),
            outcome=outcome,
            steps=[c.step for c in changes],
            rows=[row for change in changes for row in change.stored],
            start=StepStart(start, now) if start is not None else None,
            events=events,
        )
        try:
            if not await self.store.write(write):
                raise StaleExecution(execution.id)
        except BaseException:
            # Rolled back (or never begun): the steps in memory must say what the database says.
            for step, fields in saved:
                for name, value in fields.items():
                    setattr(step, name, value)
            raise
        execution.last_seq += len(events)
        if start is not None:
            mark_started(start, now)
        if outcome is not None:
            execution.status = outcome.status
            execution.error = outcome.error
            execution.error_code = outcome.error_code
            execution.completed_at = outcome.completed_at
            execution.duration_ms = outcome.duration_ms
            execution.lease_expires_at = None
        await self.bus.publish_events(events)
        if outcome is not None:
            await self.bus.publish_status(execution.workspace_id, status_change(execution))
        return events
