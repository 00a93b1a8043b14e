"""GraphQL object and input types. Objects read the resolvers' domain records
(`runcast.domain.records`) attribute by attribute: no mapping layer between them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from enum import Enum
from typing import Any, TypeVar, cast

import strawberry
from strawberry.scalars import JSON
from strawberry.utils.str_converters import to_camel_case

from runcast.domain import records
from runcast.domain.enums import ExecutionStatus as ExecutionStatus
from runcast.domain.enums import OnError as OnError
from runcast.domain.enums import Role as Role
from runcast.domain.enums import StepStatus as StepStatus
from runcast.domain.enums import TaskStatus as TaskStatus
from runcast.domain.enums import TriggerType as TriggerType
from runcast.domain.enums import WorkflowStatus as WorkflowStatus

# The domain's enums are served as they are: each GraphQL enum has its members' names.
for _enum in (ExecutionStatus, StepStatus, OnError, TriggerType, WorkflowStatus, Role, TaskStatus):
    strawberry.enum(_enum)


_Resolver = TypeVar("_Resolver", bound=Callable[..., Any])


def reads(graphql_type: Any, *, mutation: bool = False) -> Callable[[_Resolver], _Resolver]:
    """A field (or mutation) whose resolver returns domain records that `graphql_type`
    reads: the resolver is typed with the records, the schema with `graphql_type`."""
    make = strawberry.mutation if mutation else strawberry.field

    def wrap(resolver: _Resolver) -> _Resolver:
        return cast(_Resolver, make(resolver=resolver, graphql_type=graphql_type))

    return wrap


@strawberry.type
class Action:
    id: strawberry.ID
    type: str
    name: str | None
    config: JSON
    on_error: OnError
    timeout: int | None


@strawberry.type
class Workflow:
    id: strawberry.ID
    workspace_id: strawberry.ID
    name: str
    description: str | None
    status: WorkflowStatus
    trigger: JSON
    timeout_ms: int | None
    actions: list[Action]
    created_at: datetime
    updated_at: datetime


@strawberry.type
class Task:
    id: strawberry.ID
    execution_id: strawberry.ID | None
    title: str
    description: str | None
    priority: str | None
    assigned_to: str | None
    status: TaskStatus
    created_at: datetime


@strawberry.type
class Notification:
    id: strawberry.ID
    execution_id: strawberry.ID | None
    message: str
    recipient: str | None
    created_at: datetime


@strawberry.type
class Membership:
    workspace_id: strawberry.ID
    workspace_slug: str
    role: Role


@strawberry.type
class Me:
    id: strawberry.ID
    name: str
    memberships: list[Membership]


@strawberry.input
class ActionInput:
    type: str
    id: strawberry.ID | None = strawberry.UNSET
    name: str | None = strawberry.UNSET
    config: JSON | None = strawberry.UNSET
    on_error: OnError | None = strawberry.UNSET
    timeout: int | None = strawberry.UNSET


@strawberry.input
class WorkflowInput:
    """Fields of a workflow; on update only the given ones change."""

    name: str | None = strawberry.UNSET
    description: str | None = strawberry.UNSET
    status: WorkflowStatus | None = strawberry.UNSET
    trigger: JSON | None = strawberry.UNSET
    timeout_ms: int | None = strawberry.UNSET
    actions: list[ActionInput] | None = strawberry.UNSET


def to_wire(value: Any) -> Any:
    """Turn a Strawberry input into the JSON body REST would have received."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, list):
        return [to_wire(item) for item in value]
    if hasattr(value, "__strawberry_definition__"):
        return {
            to_camel_case(name): to_wire(item)
            for name, item in vars(value).items()
            if item is not strawberry.UNSET
        }
    return value


@strawberry.type
class Step:
    action_id: strawberry.ID
    action_type: str
    status: StepStatus
    output: JSON | None
    error: str | None
    attempts: int
    started_at: datetime | None
    completed_at: datetime | None
    duration_ms: int | None


@strawberry.type
class Progress:
    total_steps: int
    completed_steps: int
    successful_steps: int
    failed_steps: int
    running_steps: int
    percentage: int


@strawberry.type
class Timing:
    started_at: datetime | None
    completed_at: datetime | None
    duration_ms: int | None
    is_running: bool


@strawberry.type
class ExecutionSummary:
    total_steps: int
    successful_steps: int
    failed_steps: int
    skipped_steps: int


@strawberry.type
class WorkflowBrief:
    id: strawberry.ID
    name: str
    description: str | None
    trigger: JSON | None
    status: WorkflowStatus | None


@strawberry.type
class ExecutionCore:
    """The fields every execution type shares (not itself part of the schema)."""

    id: strawberry.ID
    workflow_id: strawberry.ID
    workspace_id: strawberry.ID
    status: ExecutionStatus
    triggered_by: strawberry.ID | None
    trigger_type: TriggerType
    trigger_data: JSON
    variables: JSON
    is_simulation: bool
    error: str | None
    error_code: str | None
    started_at: datetime | None
    completed_at: datetime | None
    duration_ms: int | None


@strawberry.type
class Execution(ExecutionCore):
    """An execution read on its own: with its steps, progress, timing and workflow."""

    steps: list[Step]
    execution_summary: ExecutionSummary
    workflow: WorkflowBrief

    @reads(Progress)
    def progress(self, root: records.Execution) -> records.Progress:
        return root.progress()

    @reads(Timing)
    def timing(self, root: records.Execution) -> records.Timing:
        return root.timing()


@strawberry.type
class CancelledExecution:
    id: strawberry.ID
    status: ExecutionStatus
    error: str | None
    completed_at: datetime | None


@strawberry.type
class CancelResult:
    success: bool
    execution: CancelledExecution
    message: str


@strawberry.input
class ExecuteInput:
    trigger_data: JSON | None = strawberry.UNSET
    variables: JSON | None = strawberry.UNSET
    dry_run: bool | None = strawberry.UNSET
    idempotency_key: str | None = strawberry.UNSET


@strawberry.type
class WorkflowRef:
    id: strawberry.ID
    name: str


@strawberry.type
class ExecutionListItem(ExecutionCore):
    """An execution as listings show it: without steps, progress or timing."""

    workflow: WorkflowRef


@strawberry.type
class Pagination:
    total: int
    offset: int
    limit: int
    has_more: bool


def _count_of(status: ExecutionStatus) -> Any:
    def count(root: records.Statistics) -> int:
        return root.count(status)

    return strawberry.field(resolver=count, description=f"Executions {status.value}")


@strawberry.type
class StatusCounts:
    """How many of the matching executions are in each status."""

    pending: int = _count_of(ExecutionStatus.PENDING)
    running: int = _count_of(ExecutionStatus.RUNNING)
    completed: int = _count_of(ExecutionStatus.COMPLETED)
    failed: int = _count_of(ExecutionStatus.FAILED)
    cancelled: int = _count_of(ExecutionStatus.CANCELLED)


@strawberry.type
class ExecutionStatistics:
    total: int
    success_rate: float
    average_duration_ms: int | None
    p50_duration_ms: int | None
    p95_duration_ms: int | None

    @reads(StatusCounts)
    def by_status(self, root: records.Statistics) -> records.Statistics:
        """The counts, read from the statistics themselves."""
        return root


@strawberry.type
class ExecutionList:
    executions: list[ExecutionListItem]
    pagination: Pagination
    statistics: ExecutionStatistics
