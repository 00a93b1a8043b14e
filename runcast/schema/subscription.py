"""GraphQL subscriptions: an execution's events and a workspace's status changes.

Both feed on `runcast.events.stream`, the same streams the SSE route serves; this module only
checks access (through `runcast.resolvers.streams`) and turns events into GraphQL types.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import aclosing
from datetime import datetime
from typing import Annotated, Any

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from runcast.domain.events import Event
from runcast.events.hub import Hub
from runcast.events.stream import execution_events, workspace_changes
from runcast.resolvers import streams
from runcast.schema.context import Context
from runcast.schema.types import ExecutionStatus


@strawberry.type
class ExecutionConnected:
    seq: int
    execution_id: strawberry.ID
    timestamp: datetime


@strawberry.type
class StepEvent:
    seq: int
    action_id: strawberry.ID
    action_type: str
    status: str
    output: JSON | None
    duration_ms: int | None
    error: str | None


@strawberry.type
class ProgressEvent:
    seq: int
    total_steps: int
    completed_steps: int
    successful_steps: int
    failed_steps: int
    percentage: int
    status: str


@strawberry.type
class CompleteEvent:
    seq: int
    status: str
    duration_ms: int | None
    completed_at: datetime | None


@strawberry.type
class ErrorEvent:
    seq: int
    message: str


# Every member's `status` is a String with the SSE payload's value, so one selection of
# `status` works across the union (GraphQL refuses same-named fields of different types).
# Timestamps are the payloads' wire text, which the `DateTime` scalar sends as it is.
ExecutionEvent = Annotated[
    ExecutionConnected | StepEvent | ProgressEvent | CompleteEvent | ErrorEvent,
    strawberry.union("ExecutionEvent"),
]


@strawberry.type
class ExecutionStatusChange:
    execution_id: strawberry.ID
    workflow_id: strawberry.ID
    status: ExecutionStatus
    started_at: datetime | None
    completed_at: datetime | None
    duration_ms: int | None
    is_simulation: bool


def to_graphql(event: Event) -> StepEvent | ProgressEvent | CompleteEvent | ErrorEvent:
    """The GraphQL type of a stored event, with the same fields as its SSE payload."""
    data: dict[str, Any] = event.data
    if event.type == "step":
        return StepEvent(
            seq=event.seq,
            action_id=data["actionId"],
            action_type=data["actionType"],
            status=data["status"],
            output=data.get("output"),
            duration_ms=data.get("durationMs"),
            error=data.get("error"),
        )
    if event.type == "progress":
        return ProgressEvent(
            seq=event.seq,
            total_steps=data["totalSteps"],
            completed_steps=data["completedSteps"],
            successful_steps=data["successfulSteps"],
            failed_steps=data["failedSteps"],
            percentage=data["percentage"],
            status=data["status"],
        )
    if event.type == "complete":
        return CompleteEvent(
            seq=event.seq,
            status=data["status"],
            duration_ms=data.get("durationMs"),
            completed_at=data.get("completedAt"),
        )
    return ErrorEvent(seq=event.seq, message=data["message"])


async def _execution_events(
    hub: Hub, start: streams.StreamStart
) -> AsyncGenerator[ExecutionEvent, None]:
    if start.nothing_left:
        return
    connected = streams.connected_event(start.execution_id)
    yield ExecutionConnected(
        seq=0, execution_id=connected["executionId"], timestamp=connected["timestamp"]
    )
    async with aclosing(execution_events(hub, start.execution_id, start.after)) as events:
        async for event in events:
            yield to_graphql(event)


async def _status_changes(
    hub: Hub, workspace_id: str
) -> AsyncGenerator[ExecutionStatusChange, None]:
    async with aclosing(workspace_changes(hub, workspace_id)) as changes:
        async for change in changes:
            yield ExecutionStatusChange(
                execution_id=change["executionId"],
                workflow_id=change["workflowId"],
                status=ExecutionStatus(change["status"]),
                started_at=change["startedAt"],
                completed_at=change["completedAt"],
                duration_ms=change["durationMs"],
                is_simulation=change["isSimulation"],
            )


@strawberry.type
class Subscription:
    @strawberry.subscription
    async def execution_events(
        self,
        info: Info[Context, None],
        workspace_slug: str,
        execution_id: strawberry.ID,
        after: int | None = None,
    ) -> AsyncGenerator[ExecutionEvent, None]:
        """`ExecutionConnected`, then every event after seq `after`; ends after
        `CompleteEvent`. A finished execution already seen to its end sends nothing."""
        caller = await info.context.caller()
        start = await streams.open_execution_stream(caller, workspace_slug, execution_id, after)
        return _execution_events(info.context.app_state.hub, start)

    @strawberry.subscription
    async def workspace_executions(
        self, info: Info[Context, None], workspace_slug: str
    ) -> AsyncGenerator[ExecutionStatusChange, None]:
        """Every status change of every execution in the workspace."""
        caller = await info.context.caller()
        workspace_id = await streams.open_workspace_stream(caller, workspace_slug)
        return _status_changes(info.context.app_state.hub, workspace_id)
