"""An `ExecutionStore` in memory, for running the engine's parts without a database.

It keeps copies of what was written (so the runner's objects and the "stored" rows can
disagree, as they would with a database), applies each `ExecutionWrite` whole or not at
all, and records every write so tests can assert what the engine asked for.
"""

from __future__ import annotations

from collections.abc import Sequence
from copy import deepcopy
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from runcast.domain.enums import ACTIVE_EXECUTION_STATUSES, ExecutionStatus, StepStatus
from runcast.domain.events import Event
from runcast.models import Execution, StepRun
from runcast.store.interface import Claim, ExecutionWrite, LeaseState


@dataclass
class MemoryExecutionStore:
    executions: dict[str, Execution] = field(default_factory=dict)
    steps: dict[str, list[StepRun]] = field(default_factory=dict)
    events: dict[str, list[Event]] = field(default_factory=dict)
    rows: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    writes: list[ExecutionWrite] = field(default_factory=list)
    step_write_failure: Exception | None = None
    """Raised by every write that records step results (a database gone mid-run)."""

    async def insert(self, execution: Execution, steps: Sequence[StepRun]) -> None:
        self.executions[execution.id] = deepcopy(execution)
        self.steps[execution.id] = [deepcopy(step) for step in steps]
        self.events[execution.id] = []

    async def insert_many(self, batch: Sequence[tuple[Execution, Sequence[StepRun]]]) -> set[str]:
        """Each execution whose (workflow, idempotency key) is free, as the unique index
        would admit it."""
        taken = {
            (row.workflow_id, row.idempotency_key)
            for row in self.executions.values()
            if row.idempotency_key is not None
        }
        stored: set[str] = set()
        for execution, steps in batch:
            slot = (execution.workflow_id, execution.idempotency_key)
            if execution.idempotency_key is not None and slot in taken:
                continue
            taken.add(slot)
            await self.insert(execution, steps)
            stored.add(execution.id)
        return stored

    async def write(self, change: ExecutionWrite) -> bool:
        self.writes.append(change)
        if self.step_write_failure is not None and change.steps:
            raise self.step_write_failure
        row = self.executions[change.execution_id]
        guard = change.guard
        if guard is not None:
            if guard.fencing_token is not None and row.fencing_token != guard.fencing_token:
                return False
            if guard.status is not None and row.status != guard.status:
                return False
        stored = {step.position: step for step in self.steps[change.execution_id]}
        for step in change.steps:
            target = stored[step.position]
            for name in ("status", "output", "error", "attempts", "completed_at", "duration_ms"):
                setattr(target, name, deepcopy(getattr(step, name)))
        if change.start is not None:
            target = stored[change.start.step.position]
            target.status = StepStatus.RUNNING
            target.started_at = change.start.started_at
            target.attempts = change.start.step.attempts + 1
        self.rows += [(row.model.__name__, dict(row.record)) for row in change.rows]
        self.events[change.execution_id] += change.events
        if change.status is not None:
            row.status = change.status
        if change.last_seq is not None:
            row.last_seq = change.last_seq
        if change.outcome is not None:
            row.status = change.outcome.status
            row.error = change.outcome.error
            row.error_code = change.outcome.error_code
            row.completed_at = change.outcome.completed_at
            row.duration_ms = change.outcome.duration_ms
            row.lease_expires_at = None
        return True

    async def count_attempt(self, step: StepRun) -> None:
        stored = self.steps[step.execution_id][step.position]
        stored.attempts = step.attempts + 1

    async def claim(self, owner: str, limit: int, now: datetime, lease: timedelta) -> list[Claim]:
        claimed: list[Claim] = []
        for row in self.executions.values():
            if len(claimed) == limit:
                break
            expired = row.lease_expires_at is None or row.lease_expires_at < now
            if row.status in ACTIVE_EXECUTION_STATUSES and expired:
                row.status = ExecutionStatus.RUNNING
                row.lease_owner, row.lease_expires_at = owner, now + lease
                row.fencing_token += 1
                claimed.append(Claim(row.id, row.fencing_token))
        return claimed

    async def claim_capped(
        self, owner: str, limit: int, now: datetime, lease: timedelta
    ) -> list[Claim]:
        return []  # the runner's tests create no capped executions

    async def load(self, ids: Sequence[str]) -> list[tuple[Execution, list[StepRun]]]:
        return [
            (deepcopy(self.executions[i]), [deepcopy(s) for s in self.steps[i]])
            for i in ids
            if i in self.executions
        ]

    async def steps_of(self, execution_id: str) -> list[StepRun]:
        return [deepcopy(step) for step in self.steps[execution_id]]

    async def status_of(self, execution_id: str) -> ExecutionStatus | None:
        row = self.executions.get(execution_id)
        return None if row is None else ExecutionStatus(row.status)

    async def request_cancel(self, execution_id: str) -> None:
        self.executions[execution_id].cancel_requested = True

    async def renew_leases(self, ids: Sequence[str], owner: str, until: datetime) -> None:
        for i in ids:
            row = self.executions[i]
            if row.lease_owner == owner and row.status in ACTIVE_EXECUTION_STATUSES:
                row.lease_expires_at = until

    async def lease_states(self, ids: Sequence[str]) -> list[LeaseState]:
        return [
            LeaseState(i, self.executions[i].lease_owner, self.executions[i].cancel_requested)
            for i in ids
        ]

    async def release_leases(self) -> None:
        for row in self.executions.values():
            if row.status in ACTIVE_EXECUTION_STATUSES:
                row.lease_expires_at = None

    async def events_after(self, execution_id: str, after_seq: int) -> list[Event]:
        return [event for event in self.events[execution_id] if event.seq > after_seq]
