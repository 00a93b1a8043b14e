"""What the resolvers answer: typed, immutable records of workflows, executions, steps,
tasks, notifications, listings and statistics.

Both APIs read these directly: REST encodes them to camelCase JSON (`rest/encode.py`),
GraphQL's types read their attributes (`schema/types.py`). Sequences are tuples; open JSON
(configs, trigger data, outputs) stays as stored. A field marked `OMIT_IF_NONE` is absent
from the JSON when it holds None (not loaded, or not part of that answer); every other
field without a value is null, never absent. A `Lazy` field is worked out only when an
answer shows it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from runcast.domain.enums import (
    FINAL_EXECUTION_STATUSES,
    ExecutionStatus,
    OnError,
    Role,
    StepStatus,
    TaskStatus,
    TriggerType,
    WorkflowStatus,
)
from runcast.domain.events import progress_of

OMIT_IF_NONE: Mapping[str, bool] = {"omit_if_none": True}
"""Field metadata: leave the field out of the JSON when it is None."""

_T = TypeVar("_T")


class Lazy(Generic[_T]):
    """A field's value worked out when an answer shows it (REST always encodes it, GraphQL
    when it is selected), so reading records costs nothing for what is not shown."""

    __slots__ = ("_compute",)

    def __init__(self, compute: Callable[[], _T]) -> None:
        self._compute = compute

    def get(self) -> _T:
        return self._compute()

    def __repr__(self) -> str:
        return "Lazy(…)"


@dataclass(frozen=True, slots=True)
class Action:
    """One action of a workflow definition, in the order it was saved."""

    id: str
    type: str
    config: Any
    on_error: OnError
    name: str | None = field(default=None, metadata=OMIT_IF_NONE)
    timeout: int | None = field(default=None, metadata=OMIT_IF_NONE)


@dataclass(frozen=True, slots=True)
class Workflow:
    id: str
    workspace_id: str
    name: str
    description: str | None
    status: WorkflowStatus
    trigger: Any
    timeout_ms: int | None
    actions: tuple[Action, ...]
    created_at: datetime
    updated_at: datetime
    webhook_url: str | None = None
    """`/hooks/<hook id>` for a webhook workflow (see docs/triggers.md)."""
    concurrency: Any = None
    next_runs: Lazy[tuple[datetime, ...] | None] = field(default=Lazy(lambda: None), compare=False)
    """A schedule's next ticks (see docs/triggers.md); None without a schedule."""


@dataclass(frozen=True, slots=True)
class WorkflowRef:
    """The workflow a listed execution belongs to."""

    id: str
    name: str


@dataclass(frozen=True, slots=True)
class WorkflowBrief:
    """The workflow an execution read on its own belongs to; `trigger` and `status` only
    where that answer shows them."""

    id: str
    name: str
    description: str | None
    trigger: Any = field(default=None, metadata=OMIT_IF_NONE)
    status: WorkflowStatus | None = field(default=None, metadata=OMIT_IF_NONE)


@dataclass(frozen=True, slots=True)
class Step:
    """A step as both APIs show it: its `step` event's fields with its times and attempts."""

    action_id: str
    action_type: str
    status: StepStatus
    output: Any
    duration_ms: int | None
    error: str | None
    started_at: datetime | None
    completed_at: datetime | None
    attempts: int


@dataclass(frozen=True, slots=True)
class ExecutionSummary:
    total_steps: int
    successful_steps: int
    failed_steps: int
    skipped_steps: int

    @classmethod
    def of(cls, statuses: Sequence[str]) -> ExecutionSummary:
        return cls(
            total_steps=len(statuses),
            successful_steps=statuses.count(StepStatus.SUCCESS),
            failed_steps=statuses.count(StepStatus.FAILED),
            skipped_steps=statuses.count(StepStatus.SKIPPED),
        )


@dataclass(frozen=True, slots=True)
class Progress:
    total_steps: int
    completed_steps: int
    successful_steps: int
    failed_steps: int
    running_steps: int
    percentage: int

    @classmethod
    def of(cls, statuses: Sequence[str], execution_status: str) -> Progress:
        """The counts of a `progress` event (see `events.progress_of`)."""
        counts = progress_of(statuses, execution_status)
        return cls(
            total_steps=counts["totalSteps"],
            completed_steps=counts["completedSteps"],
            successful_steps=counts["successfulSteps"],
            failed_steps=counts["failedSteps"],
            running_steps=counts["runningSteps"],
            percentage=counts["percentage"],
        )


@dataclass(frozen=True, slots=True)
class Execution:
    """An execution; `steps`, `workflow` and `execution_summary` only where loaded."""

    id: str
    workflow_id: str
    workspace_id: str
    status: ExecutionStatus
    triggered_by: str | None
    trigger_type: TriggerType
    trigger_data: Any
    variables: Any
    started_at: datetime
    completed_at: datetime | None
    duration_ms: int | None
    is_simulation: bool
    error: str | None
    error_code: str | None
    steps: tuple[Step, ...] | None = field(default=None, metadata=OMIT_IF_NONE)
    workflow: WorkflowBrief | WorkflowRef | None = field(default=None, metadata=OMIT_IF_NONE)
    execution_summary: ExecutionSummary | None = field(default=None, metadata=OMIT_IF_NONE)

    def progress(self) -> Progress:
        """Progress of the loaded steps (none loaded counts as none)."""
        return Progress.of([step.status for step in self.steps or ()], self.status)

    def timing(self, now: datetime | None = None) -> Timing:
        """Times of the run; a running execution's duration is the time so far."""
        return Timing.of(self, now)


@dataclass(frozen=True, slots=True)
class Timing:
    started_at: datetime | None
    completed_at: datetime | None
    duration_ms: int | None
    is_running: bool

    @classmethod
    def of(cls, execution: Execution, now: datetime | None = None) -> Timing:
        running = execution.status not in FINAL_EXECUTION_STATUSES
        if running:
            elapsed = (now or datetime.now(UTC)) - execution.started_at
            duration: int | None = max(0, int(elapsed.total_seconds() * 1000))
        else:
            duration = execution.duration_ms
        return cls(execution.started_at, execution.completed_at, duration, running)


@dataclass(frozen=True, slots=True)
class ExecutionState:
    """The status answer: the execution with its steps, and its progress and timing."""

    execution: Execution
    progress: Progress
    timing: Timing

    @classmethod
    def of(cls, execution: Execution) -> ExecutionState:
        return cls(execution, execution.progress(), execution.timing())


@dataclass(frozen=True, slots=True)
class CancelledExecution:
    id: str
    status: ExecutionStatus
    error: str | None
    completed_at: datetime | None


@dataclass(frozen=True, slots=True)
class CancelResult:
    success: bool
    execution: CancelledExecution
    message: str


@dataclass(frozen=True, slots=True)
class Pagination:
    """An offset listing's page; `next_cursor` continues after it (None at the end)."""

    total: int
    offset: int
    limit: int
    has_more: bool
    next_cursor: str | None = None


@dataclass(frozen=True, slots=True)
class Statistics:
    """Figures over every execution a listing's filters match. `by_status` holds the
    statuses that occur, in `ExecutionStatus` order."""

    total: int
    by_status: Mapping[ExecutionStatus, int]
    success_rate: float
    average_duration_ms: int | None
    p50_duration_ms: int | None
    p95_duration_ms: int | None

    def count(self, status: ExecutionStatus) -> int:
        return self.by_status.get(status, 0)


@dataclass(frozen=True, slots=True)
class ExecutionPage:
    """A page of executions; `statistics` where the listing computes them."""

    executions: tuple[Execution, ...]
    pagination: Pagination
    statistics: Statistics | None = field(default=None, metadata=OMIT_IF_NONE)


@dataclass(frozen=True, slots=True)
class ExecutionEdge:
    cursor: str
    node: Execution


@dataclass(frozen=True, slots=True)
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@dataclass(frozen=True, slots=True)
class ExecutionConnection:
    """A page of a keyset listing (newest first) in Relay's shape; `total_count` and
    `statistics` cover every matching execution, and are None when not asked for."""

    edges: tuple[ExecutionEdge, ...]
    page_info: PageInfo
    total_count: int | None = None
    statistics: Statistics | None = None


@dataclass(frozen=True, slots=True)
class Task:
    id: str
    execution_id: str | None
    title: str
    description: str | None
    priority: str | None
    assigned_to: str | None
    status: TaskStatus
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Notification:
    id: str
    execution_id: str | None
    message: str
    recipient: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Membership:
    workspace_id: str
    workspace_slug: str
    role: Role


@dataclass(frozen=True, slots=True)
class Me:
    """The caller and the workspaces they belong to."""

    id: str
    name: str
    memberships: tuple[Membership, ...]
