"""GraphQL object and input types. Objects are built from the resolvers' wire dicts."""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.scalars import JSON
from strawberry.utils.str_converters import to_camel_case, to_snake_case

from runcast.domain.enums import ExecutionStatus as ExecutionStatus
from runcast.domain.enums import OnError

# The domain's enum is served as is: GraphQL's `ExecutionStatus` has its members' names.
strawberry.enum(ExecutionStatus)


@strawberry.type
class Action:
    id: str
    type: str
    name: str | None
    config: JSON
    on_error: str
    timeout: int | None

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> Action:
        return cls(
            id=data["id"],
            type=data["type"],
            name=data.get("name"),
            config=data.get("config", {}),
            on_error=data.get("onError", OnError.STOP),
            timeout=data.get("timeout"),
        )


@strawberry.type
class Workflow:
    id: str
    workspace_id: str
    name: str
    description: str | None
    status: str
    trigger: JSON
    timeout_ms: int | None
    actions: list[Action]
    created_at: str
    updated_at: str

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> Workflow:
        return cls(
            id=data["id"],
            workspace_id=data["workspaceId"],
            name=data["name"],
            description=data["description"],
            status=data["status"],
            trigger=data["trigger"],
            timeout_ms=data["timeoutMs"],
            actions=[Action.from_wire(a) for a in data["actions"]],
            created_at=data["createdAt"],
            updated_at=data["updatedAt"],
        )


@strawberry.type
class Task:
    id: str
    execution_id: str | None
    title: str
    description: str | None
    priority: str | None
    assigned_to: str | None
    status: str
    created_at: str

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> Task:
        return cls(
            id=data["id"],
            execution_id=data["executionId"],
            title=data["title"],
            description=data["description"],
            priority=data["priority"],
            assigned_to=data["assignedTo"],
            status=data["status"],
            created_at=data["createdAt"],
        )


@strawberry.type
class Notification:
    id: str
    execution_id: str | None
    message: str
    recipient: str | None
    created_at: str

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> Notification:
        return cls(
            id=data["id"],
            execution_id=data["executionId"],
            message=data["message"],
            recipient=data["recipient"],
            created_at=data["createdAt"],
        )


@strawberry.type
class Me:
    id: str
    name: str
    memberships: JSON


@strawberry.input
class ActionInput:
    type: str
    id: str | None = strawberry.UNSET
    name: str | None = strawberry.UNSET
    config: JSON | None = strawberry.UNSET
    on_error: str | None = strawberry.UNSET
    timeout: int | None = strawberry.UNSET


@strawberry.input
class WorkflowInput:
    """Fields of a workflow; on update only the given ones change."""

    name: str | None = strawberry.UNSET
    description: str | None = strawberry.UNSET
    status: str | None = strawberry.UNSET
    trigger: JSON | None = strawberry.UNSET
    timeout_ms: int | None = strawberry.UNSET
    actions: list[ActionInput] | None = strawberry.UNSET


def to_wire(value: Any) -> Any:
    """Turn a Strawberry input into the JSON body REST would have received."""
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
    action_id: str
    action_type: str
    status: str
    output: JSON | None
    error: str | None
    attempts: int
    started_at: str | None
    completed_at: str | None
    duration_ms: int | None

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> Step:
        return cls(
            action_id=data["actionId"],
            action_type=data["actionType"],
            status=data["status"],
            output=data["output"],
            error=data.get("error"),
            attempts=data["attempts"],
            started_at=data["startedAt"],
            completed_at=data["completedAt"],
            duration_ms=data["durationMs"],
        )


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
    started_at: str | None
    completed_at: str | None
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
    id: str
    name: str
    description: str | None
    trigger: JSON | None
    status: str | None


@strawberry.type
class ExecutionCore:
    """The fields every execution type shares (not itself part of the schema)."""

    id: str
    workflow_id: str
    workspace_id: str
    status: ExecutionStatus
    triggered_by: str | None
    trigger_type: str
    trigger_data: JSON
    variables: JSON
    is_simulation: bool
    error: str | None
    error_code: str | None
    started_at: str | None
    completed_at: str | None
    duration_ms: int | None

    @staticmethod
    def core_fields(view: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": view["id"],
            "workflow_id": view["workflowId"],
            "workspace_id": view["workspaceId"],
            "status": ExecutionStatus(view["status"]),
            "triggered_by": view["triggeredBy"],
            "trigger_type": view["triggerType"],
            "trigger_data": view["triggerData"],
            "variables": view["variables"],
            "is_simulation": view["isSimulation"],
            "error": view["error"],
            "error_code": view.get("errorCode"),
            "started_at": view["startedAt"],
            "completed_at": view["completedAt"],
            "duration_ms": view["durationMs"],
        }


@strawberry.type
class Execution(ExecutionCore):
    steps: list[Step]
    progress: Progress
    timing: Timing
    execution_summary: ExecutionSummary
    workflow: WorkflowBrief

    @classmethod
    def from_status(cls, data: dict[str, Any]) -> Execution:
        """Build from the resolvers' `{execution, progress, timing}` status answer."""
        view = data["execution"]
        brief = view["workflow"]
        return cls(
            **cls.core_fields(view),
            steps=[Step.from_wire(s) for s in view["steps"]],
            progress=Progress(**_snake(data["progress"])),
            timing=Timing(**_snake(data["timing"])),
            execution_summary=ExecutionSummary(**_snake(view["executionSummary"])),
            workflow=WorkflowBrief(
                id=brief["id"],
                name=brief["name"],
                description=brief.get("description"),
                trigger=brief.get("trigger"),
                status=brief.get("status"),
            ),
        )


@strawberry.type
class CancelledExecution:
    id: str
    status: ExecutionStatus
    error: str | None
    completed_at: str | None


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


def _snake(data: dict[str, Any]) -> dict[str, Any]:
    return {to_snake_case(key): value for key, value in data.items()}


@strawberry.type
class WorkflowRef:
    id: str
    name: str


@strawberry.type
class ExecutionListItem(ExecutionCore):
    """An execution as listings show it: without steps, progress or timing."""

    workflow: WorkflowRef

    @classmethod
    def from_wire(cls, view: dict[str, Any]) -> ExecutionListItem:
        return cls(
            **cls.core_fields(view),
            workflow=WorkflowRef(**view["workflow"]),
        )


@strawberry.type
class Pagination:
    total: int
    offset: int
    limit: int
    has_more: bool


@strawberry.type
class ExecutionStatistics:
    total: int
    by_status: JSON
    success_rate: float
    average_duration_ms: int | None
    p50_duration_ms: int | None
    p95_duration_ms: int | None


@strawberry.type
class ExecutionList:
    executions: list[ExecutionListItem]
    pagination: Pagination
    statistics: ExecutionStatistics

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> ExecutionList:
        """Build from the resolvers' `{executions, pagination, statistics}` listing."""
        return cls(
            executions=[ExecutionListItem.from_wire(e) for e in data["executions"]],
            pagination=Pagination(**_snake(data["pagination"])),
            statistics=ExecutionStatistics(**_snake(data["statistics"])),
        )
