"""The engine's store on SQL: `ExecutionStore`'s operations as the statements of
`statements` (on SQLite through the store's own connection, on Postgres through the ORM's)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from runcast.domain.enums import ACTIVE_EXECUTION_STATUSES, ExecutionStatus, StepStatus
from runcast.domain.events import Event
from runcast.models import Execution, ExecutionEvent, StepRun
from runcast.store import reads, statements, tables
from runcast.store.claims import claim_capped, claim_runnable
from runcast.store.interface import Claim, ExecutionWrite, LeaseState, StepStart

__all__ = ["SqlExecutionStore"]

_STEP_RESULT = ("status", "output", "error", "attempts", "completed_at", "duration_ms")
"""The columns a step's result sets."""


def _step_key(step: StepRun) -> dict[str, Any]:
    return {"execution_id": step.execution_id, "position": step.position}


def _in(ids: Sequence[str]) -> str:
    return ", ".join("?" for _ in ids)


class SqlExecutionStore:
    """`ExecutionStore` on the app's database."""

    async def insert(self, execution: Execution, steps: Sequence[StepRun]) -> None:
        dialect = statements.dialect()
        batch = [statements.insert(dialect, Execution, [statements.stored_fields(execution)])]
        if steps:
            records = [statements.stored_fields(step, skip=("id",)) for step in steps]
            batch.append(statements.insert(dialect, StepRun, records))
        await statements.run(batch)

    async def insert_many(self, batch: Sequence[tuple[Execution, Sequence[StepRun]]]) -> set[str]:
        executions = [statements.stored_fields(execution) for execution, _ in batch]
        steps = [
            statements.stored_fields(step, skip=("id",)) for _, steps in batch for step in steps
        ]
        return await statements.insert_new(Execution, executions, StepRun, steps, "execution_id")

    async def write(self, change: ExecutionWrite) -> bool:
        dialect = statements.dialect()
        batch: list[statements.Statement] = []
        sets: dict[str, Any] = {}
        if change.status is not None:
            sets["status"] = change.status
        if change.last_seq is not None:
            sets["last_seq"] = change.last_seq
        if change.outcome is not None:
            outcome = change.outcome
            sets |= {
                "status": outcome.status,
                "error": outcome.error,
                "error_code": outcome.error_code,
                "completed_at": outcome.completed_at,
                "duration_ms": outcome.duration_ms,
                "lease_expires_at": None,
            }
        if change.guard is not None and not sets:
            raise ValueError("a guard applies to a change of the execution row")
        if sets:
            where: dict[str, Any] = {"id": change.execution_id}
            if change.guard is not None:
                if change.guard.fencing_token is not None:
                    where["fencing_token"] = change.guard.fencing_token
                if change.guard.status is not None:
                    where["status"] = change.guard.status
            batch.append(statements.update(dialect, Execution, sets, where, expect=1))
        for step in change.steps:
            result = {name: getattr(step, name) for name in _STEP_RESULT}
            batch.append(statements.update(dialect, StepRun, result, _step_key(step)))
        batch += [
            statements.insert(dialect, row.model, [row.record], skip_existing=True)
            for row in change.rows
        ]
        if change.start is not None:
            batch.append(_start(dialect, change.start))
        if change.events:
            records = [
                {
                    "execution_id": event.execution_id,
                    "seq": event.seq,
                    "type": event.type,
                    "payload": event.data,
                    "created_at": change.at,
                }
                for event in change.events
            ]
            batch.append(statements.insert(dialect, ExecutionEvent, records))
        return await statements.run(batch)

    async def count_attempt(self, step: StepRun) -> None:
        sets = {"attempts": step.attempts + 1}
        dialect = statements.dialect()
        await statements.run([statements.update(dialect, StepRun, sets, _step_key(step))])

    async def claim(self, owner: str, limit: int, now: datetime, lease: timedelta) -> list[Claim]:
        claimed = await claim_runnable(owner, limit, now, lease)
        return [Claim(execution_id, token) for execution_id, token in claimed]

    async def claim_capped(
        self, owner: str, limit: int, now: datetime, lease: timedelta
    ) -> list[Claim]:
        claimed = await claim_capped(owner, limit, now, lease)
        return [Claim(execution_id, token) for execution_id, token in claimed]

    async def load(self, ids: Sequence[str]) -> list[tuple[Execution, list[StepRun]]]:
        if not ids:
            return []
        executions = await statements.select(Execution, f"t.id IN ({_in(ids)})", list(ids))
        steps: dict[str, list[StepRun]] = {execution.id: [] for execution in executions}
        for step in await statements.select(
            StepRun, f"t.execution_id IN ({_in(ids)})", list(ids), "t.execution_id, t.position"
        ):
            steps[step.execution_id].append(step)
        return [(execution, steps[execution.id]) for execution in executions]

    async def steps_of(self, execution_id: str) -> list[StepRun]:
        return await reads.steps_of(execution_id)

    async def status_of(self, execution_id: str) -> ExecutionStatus | None:
        table = tables.table(Execution)
        rows = await statements.fetch(f"SELECT status FROM {table} WHERE id = ?", [execution_id])
        return ExecutionStatus(rows[0]["status"]) if rows else None

    async def request_cancel(self, execution_id: str) -> None:
        await Execution.filter(id=execution_id).update(cancel_requested=True)

    async def renew_leases(self, ids: Sequence[str], owner: str, until: datetime) -> None:
        await Execution.filter(
            id__in=list(ids), lease_owner=owner, status__in=ACTIVE_EXECUTION_STATUSES
        ).update(lease_expires_at=until)

    async def lease_states(self, ids: Sequence[str]) -> list[LeaseState]:
        rows = await Execution.filter(id__in=list(ids)).values_list(
            "id", "lease_owner", "cancel_requested"
        )
        return [LeaseState(str(i), owner, bool(flag)) for i, owner, flag in rows]

    async def release_leases(self) -> None:
        await Execution.filter(status__in=ACTIVE_EXECUTION_STATUSES).update(lease_expires_at=None)

    async def events_after(self, execution_id: str, after_seq: int) -> list[Event]:
        return await reads.events_after(execution_id, after_seq)


def _start(dialect: str, start: StepStart) -> statements.Statement:
    """Mark the step running since `start.started_at` and count the attempt it begins."""
    sets = {
        "status": StepStatus.RUNNING,
        "started_at": start.started_at,
        "attempts": start.step.attempts + 1,
    }
    return statements.update(dialect, StepRun, sets, _step_key(start.step))
