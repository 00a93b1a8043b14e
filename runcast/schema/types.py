"""GraphQL object and input types. Objects read the resolvers' domain records
(`runcast.domain.records`) attribute by attribute: no mapping layer between them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any, TypeVar, cast

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info
from strawberry.utils.str_converters import to_camel_case

from runcast.domain import records
from runcast.domain.enums import ExecutionStatus as ExecutionStatus
from runcast.domain.enums import OnError as OnError
from runcast.domain.enums import Role as Role
from runcast.domain.enums import StepStatus as StepStatus
from runcast.domain.enums import TaskStatus as TaskStatus
from runcast.domain.enums import TriggerType as TriggerType
from runcast.domain.enums import WorkflowStatus as WorkflowStatus
from runcast.errors import WorkflowNotFound
from runcast.schema.context import Context
from runcast.schema.loaders import Loaders, MemberWorkspace

if TYPE_CHECKING:
    from runcast.schema.connections import ExecutionConnection, ExecutionFilter

# The connection's types are defined beside its resolver, which reads these types.
Connection = Annotated["ExecutionConnection", strawberry.lazy("runcast.schema.connections")]
Filter = Annotated["ExecutionFilter", strawberry.lazy("runcast.schema.connections")]


async def _executions(
    info: Info[Context, None],
    workspace: str,
    workflow_id: str | None,
    page: dict[str, Any],
) -> records.ExecutionConnection:
    """A parent's `executions` connection, through the resolver `Query.executions` uses."""
    # Imported here: the connections module imports this one.
    from runcast.schema.connections import resolve_executions

    return await resolve_executions(info, workspace, workflow_id, **page)


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


@strawberry.interface(description="An object `node(id)` refetches by its global id.")
class Node:
    id: strawberry.ID


async def _loaders(info: Info[Context, None]) -> Loaders:
    return await info.context.loaders()


@strawberry.type(
    description="One action of a workflow. `id` is unique across workflows (the workflow's "
    "id, a colon, then `actionId`), so caches keyed by `__typename:id` keep each workflow's "
    "actions apart; `actionId` is the id within the workflow (REST's action `id`, the "
    "`actionId` of its steps)."
)
class Action:
    id: strawberry.ID
    action_id: strawberry.ID
    type: str
    name: str | None
    config: JSON
    on_error: OnError
    timeout: int | None

    @classmethod
    def of(cls, workflow_id: str, action: records.Action) -> Action:
        return cls(
            id=strawberry.ID(f"{workflow_id}:{action.id}"),
            action_id=strawberry.ID(action.id),
            type=action.type,
            name=action.name,
            config=action.config,
            on_error=action.on_error,
            timeout=action.timeout,
        )


def _next_runs(root: records.Workflow) -> list[datetime] | None:
    """Worked out only when selected."""
    runs = root.next_runs.get()
    return None if runs is None else list(runs)


@strawberry.type
class Workflow(Node):
    id: strawberry.ID
    workspace_id: strawberry.ID
    name: str
    description: str | None
    status: WorkflowStatus
    trigger: JSON
    timeout_ms: int | None
    created_at: datetime
    updated_at: datetime
    webhook_url: str | None
    concurrency: JSON | None
    next_runs: list[datetime] | None = strawberry.field(
        resolver=_next_runs,
        description="A schedule's next 5 ticks (empty while paused or INACTIVE, or when its "
        "cron has no next tick); null without a schedule",
    )

    @classmethod
    def is_type_of(cls, obj: Any, _info: Any) -> bool:
        return isinstance(obj, records.Workflow)

    @strawberry.field
    def actions(self, root: records.Workflow) -> list[Action]:
        return [Action.of(root.id, action) for action in root.actions]

    @reads(ExecutionStatistics)
    async def statistics(
        self, root: records.Workflow, info: Info[Context, None]
    ) -> records.Statistics:
        """Figures over every execution of the workflow (batched across workflows)."""
        return await (await _loaders(info)).workflow_statistics.load(root.id)

    @reads(Connection)
    async def executions(
        self,
        root: records.Workflow,
        info: Info[Context, None],
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        filter: Filter | None = None,
    ) -> records.ExecutionConnection:
        """The workflow's executions, newest first (`filter.workflowId` is this workflow)."""
        page = {"first": first, "after": after, "last": last, "before": before, "filter": filter}
        return await _executions(info, root.workspace_id, root.id, page)


@strawberry.type
class Workspace(Node):
    """A workspace the caller belongs to, with the caller's role in it."""

    id: strawberry.ID
    slug: str
    name: str
    role: Role

    @classmethod
    def is_type_of(cls, obj: Any, _info: Any) -> bool:
        return isinstance(obj, MemberWorkspace)

    @reads(list[Workflow])
    async def workflows(
        self, root: MemberWorkspace, info: Info[Context, None]
    ) -> tuple[records.Workflow, ...]:
        """The workspace's workflows, newest first (batched across workspaces)."""
        return await (await _loaders(info)).workspace_workflows.load(root.id)

    @reads(Connection)
    async def executions(
        self,
        root: MemberWorkspace,
        info: Info[Context, None],
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        filter: Filter | None = None,
    ) -> records.ExecutionConnection:
        """The workspace's executions, newest first, as `Query.executions` lists them."""
        page = {"first": first, "after": after, "last": last, "before": before, "filter": filter}
        return await _executions(info, root.id, None, page)


@strawberry.type
class Task(Node):
    id: strawberry.ID
    execution_id: strawberry.ID | None
    title: str
    description: str | None
    priority: str | None
    assigned_to: str | None
    status: TaskStatus
    created_at: datetime

    @classmethod
    def is_type_of(cls, obj: Any, _info: Any) -> bool:
        return isinstance(obj, records.Task)


@strawberry.type
class Notification(Node):
    id: strawberry.ID
    execution_id: strawberry.ID | None
    message: str
    recipient: str | None
    created_at: datetime

    @classmethod
    def is_type_of(cls, obj: Any, _info: Any) -> bool:
        return isinstance(obj, records.Notification)


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
    concurrency: JSON | None = strawberry.UNSET


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


_Made = TypeVar("_Made")


def _with_steps(
    root: records.Execution,
    info: Info[Context, None],
    make: Callable[[tuple[records.Step, ...]], _Made],
) -> _Made | Awaitable[_Made]:
    """`make(steps)`: at once with the steps the execution was read with (a single read
    carries them, so its step fields resolve without a coroutine each), or else once its
    steps are batch-loaded."""
    if root.steps is not None:
        return make(root.steps)

    async def loaded() -> _Made:
        return make(await (await _loaders(info)).steps.load(root.id))

    return loaded()


def _as_is(steps: tuple[records.Step, ...]) -> tuple[records.Step, ...]:
    return steps


@strawberry.type
class Execution(ExecutionCore, Node):
    """An execution with its steps, progress, timing and workflow (each loaded in batches
    when the execution was read without them, as in `node`/`nodes` and listings)."""

    @classmethod
    def is_type_of(cls, obj: Any, _info: Any) -> bool:
        return isinstance(obj, records.Execution)

    @reads(list[Step])
    def steps(
        self, root: records.Execution, info: Info[Context, None]
    ) -> tuple[records.Step, ...] | Awaitable[tuple[records.Step, ...]]:
        return _with_steps(root, info, _as_is)

    @reads(ExecutionSummary)
    def execution_summary(
        self, root: records.Execution, info: Info[Context, None]
    ) -> records.ExecutionSummary | Awaitable[records.ExecutionSummary]:
        if root.execution_summary is not None:
            return root.execution_summary
        return _with_steps(
            root, info, lambda steps: records.ExecutionSummary.of([s.status for s in steps])
        )

    @reads(Workflow)
    async def workflow(
        self, root: records.Execution, info: Info[Context, None]
    ) -> records.Workflow:
        """The workflow the execution belongs to (batch-loaded)."""
        found = await (await _loaders(info)).workflows.load(root.workflow_id)
        if found is None or found.workspace_id != root.workspace_id:
            raise WorkflowNotFound(f"Workflow {root.workflow_id!r} not found")
        return found

    @reads(Progress)
    def progress(
        self, root: records.Execution, info: Info[Context, None]
    ) -> records.Progress | Awaitable[records.Progress]:
        return _with_steps(
            root, info, lambda steps: records.Progress.of([s.status for s in steps], root.status)
        )

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
    wait: bool | None = strawberry.field(
        default=strawberry.UNSET,
        description="Answer once the execution has finished (at most 30 s), as REST's wait.",
    )
    idempotency_key: str | None = strawberry.UNSET
