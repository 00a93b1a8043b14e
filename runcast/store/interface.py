"""What the engine asks of the database, as named operations on records.

`ExecutionStore` is the seam between the engine and SQL: the engine receives one
(`runcast.store.executions.SqlExecutionStore` in the app, an in-memory one in unit tests)
and never builds a statement itself. Every change to a stored execution is one
`ExecutionWrite`, applied in one transaction or not at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from tortoise.models import Model

from runcast.domain.enums import ExecutionStatus
from runcast.domain.events import Event
from runcast.models import Execution, StepRun


@dataclass(frozen=True)
class StoredRow:
    """A row stored with a step's result: a built-in action's task or notification."""

    model: type[Model]
    record: dict[str, Any]


@dataclass(frozen=True)
class Guard:
    """What the execution row must still say for a write to apply: the writer's fencing
    token (it still holds the execution) and/or a status (a cancel before start)."""

    fencing_token: int | None = None
    status: ExecutionStatus | None = None


@dataclass(frozen=True)
class Outcome:
    """An execution's final state, as stored when it finishes."""

    status: ExecutionStatus
    error: str | None
    error_code: str | None
    completed_at: datetime
    duration_ms: int


@dataclass(frozen=True)
class StepStart:
    """A step marked running since `started_at`, its attempt counted (`step.attempts` is the
    count before this start)."""

    step: StepRun
    started_at: datetime


@dataclass(frozen=True)
class ExecutionWrite:
    """One transaction on an execution: the step rows as they now stand in memory, the rows
    their actions store, the next step's start, the events (numbered, written at `at`) and
    the execution row's new status, event count or outcome. With a `guard` it applies only
    while the row matches it."""

    execution_id: str
    at: datetime
    guard: Guard | None = None
    status: ExecutionStatus | None = None
    last_seq: int | None = None
    outcome: Outcome | None = None
    steps: Sequence[StepRun] = ()
    rows: Sequence[StoredRow] = ()
    start: StepStart | None = None
    events: Sequence[Event] = field(default_factory=tuple)


@dataclass(frozen=True)
class Claim:
    """A runnable execution claimed for this node, with the fencing token it now holds."""

    execution_id: str
    fencing_token: int


@dataclass(frozen=True)
class LeaseState:
    """Who holds an execution's lease and whether a cancel was asked for."""

    execution_id: str
    lease_owner: str | None
    cancel_requested: bool


class ExecutionStore(Protocol):
    """The engine's database operations."""

    async def insert(self, execution: Execution, steps: Sequence[StepRun]) -> None:
        """Store a new execution and its steps together (IntegrityError when its
        idempotency key is taken)."""

    async def insert_many(self, batch: Sequence[tuple[Execution, Sequence[StepRun]]]) -> set[str]:
        """Store many new executions with their steps in one transaction, leaving out each
        one whose idempotency key is taken (the others are stored); answers the ids of the
        executions stored."""

    async def write(self, change: ExecutionWrite) -> bool:
        """Apply `change` in one transaction; False, with nothing written, when its guard
        no longer holds."""

    async def count_attempt(self, step: StepRun) -> None:
        """Store that `step` begins one more attempt than `step.attempts`."""

    async def claim(self, owner: str, limit: int, now: datetime, lease: timedelta) -> list[Claim]:
        """Claim up to `limit` runnable executions without a concurrency cap, in creation
        order, for `owner`."""

    async def claim_capped(
        self, owner: str, limit: int, now: datetime, lease: timedelta
    ) -> list[Claim]:
        """Claim up to `limit` executions under a concurrency cap, each only while fewer
        than its cap of the same workflow and key run."""

    async def load(self, ids: Sequence[str]) -> list[tuple[Execution, list[StepRun]]]:
        """The executions with these ids and their steps in order."""

    async def steps_of(self, execution_id: str) -> list[StepRun]:
        """The execution's steps in order."""

    async def status_of(self, execution_id: str) -> ExecutionStatus | None:
        """The execution's stored status; None when there is no such execution."""

    async def request_cancel(self, execution_id: str) -> None:
        """Set the execution's cancel flag, which every node honours."""

    async def renew_leases(self, ids: Sequence[str], owner: str, until: datetime) -> None:
        """Extend `owner`'s leases on these executions while they are active."""

    async def lease_states(self, ids: Sequence[str]) -> list[LeaseState]:
        """The lease holder and cancel flag of each of these executions."""

    async def release_leases(self) -> None:
        """Drop every active execution's lease (a restarted single node owns them all)."""

    async def events_after(self, execution_id: str, after_seq: int) -> list[Event]:
        """The execution's stored events after `after_seq`, in order."""
