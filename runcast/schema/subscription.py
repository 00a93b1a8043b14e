"""GraphQL subscriptions: an execution's events, a workspace's and a workflow's status changes.

All feed on `runcast.events.stream`, the same streams the SSE route serves; this module only
checks access (through `runcast.resolvers.streams`) and turns events into GraphQL types.
Every stream of an event yields the same GraphQL object for it, and counts itself in
its selection's group while it runs, so that each selection runs once per event and a
result already made for the group is written to the websocket directly
(`runcast.schema.multiplex`).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from contextlib import aclosing
from datetime import datetime
from typing import Annotated, Any, TypeVar

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from runcast.domain.events import Event
from runcast.events.hub import Hub
from runcast.events.stream import execution_events, is_shared_event, workspace_changes
from runcast.resolvers import streams
from runcast.schema.context import Context
from runcast.schema.multiplex import FRAME_SINK, MULTIPLEXER
from runcast.schema.types import ExecutionStatus, TriggerType


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
    trigger_type: TriggerType


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


@strawberry.input
class ExecutionChangeFilter:
    """Which status changes a feed sends: each given field must match (a list, any of its
    values; an empty list matches nothing); an absent or null field matches all."""

    status: list[ExecutionStatus] | None = None
    workflow_id: strawberry.ID | None = None
    trigger_type: list[TriggerType] | None = None


def _matches(change: dict[str, Any], wanted: ExecutionChangeFilter | None) -> bool:
    if wanted is None:
        return True
    return (
        (wanted.status is None or change["status"] in wanted.status)
        and (wanted.workflow_id is None or change["workflowId"] == wanted.workflow_id)
        and (wanted.trigger_type is None or change.get("triggerType") in wanted.trigger_type)
    )


def to_status_change(change: dict[str, Any]) -> ExecutionStatusChange:
    return ExecutionStatusChange(
        execution_id=change["executionId"],
        workflow_id=change["workflowId"],
        status=ExecutionStatus(change["status"]),
        started_at=change["startedAt"],
        completed_at=change["completedAt"],
        duration_ms=change["durationMs"],
        is_simulation=change["isSimulation"],
        trigger_type=TriggerType(change["triggerType"]),
    )


def _shared(build: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """`build`, returning the same object for the same source object to every stream."""
    return lambda source: MULTIPLEXER.shared_payload(source, build)


_shared_event = _shared(to_graphql)
_shared_change = _shared(to_status_change)


T = TypeVar("T")


async def _in_group(
    info: Info[Context, None], items: AsyncGenerator[T, None]
) -> AsyncGenerator[T, None]:
    """`items`, counted in the subscription's selection group while they flow.

    A shared item whose result another subscriber of the group already has, without
    errors, goes straight to the websocket operation's frame sink (access was checked when
    the subscription started, and the selection reads only the event); every other item
    is yielded to run through graphql-core and Strawberry as usual."""
    sink = FRAME_SINK.get()  # this operation's, read in its own task
    group = MULTIPLEXER.join(info.operation, info.variable_values)
    try:
        async with aclosing(items):
            async for item in items:
                if sink is None or not await MULTIPLEXER.send_ready(group, item, sink):
                    yield item
    finally:
        MULTIPLEXER.leave(group)


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
            yield _shared_event(event) if is_shared_event(event) else to_graphql(event)


async def _status_changes(
    hub: Hub, workspace_id: str, wanted: ExecutionChangeFilter | None
) -> AsyncGenerator[ExecutionStatusChange, None]:
    async with aclosing(workspace_changes(hub, workspace_id)) as changes:
        async for change in changes:
            if _matches(change, wanted):
                yield _shared_change(change)


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
        return _in_group(info, _execution_events(info.context.app_state.hub, start))

    @strawberry.subscription
    async def workspace_executions(
        self,
        info: Info[Context, None],
        workspace_slug: str,
        filter: ExecutionChangeFilter | None = None,
    ) -> AsyncGenerator[ExecutionStatusChange, None]:
        """Every status change of the workspace's executions that `filter` matches."""
        caller = await info.context.caller()
        workspace_id = await streams.open_workspace_stream(caller, workspace_slug)
        hub = info.context.app_state.hub
        return _in_group(info, _status_changes(hub, workspace_id, filter))

    @strawberry.subscription
    async def workflow_executions(
        self, info: Info[Context, None], workspace_slug: str, workflow_id: strawberry.ID
    ) -> AsyncGenerator[ExecutionStatusChange, None]:
        """Every status change of the workflow's executions."""
        caller = await info.context.caller()
        workspace_id, known_id = await streams.open_workflow_stream(
            caller, workspace_slug, workflow_id
        )
        wanted = ExecutionChangeFilter(workflow_id=strawberry.ID(known_id))
        hub = info.context.app_state.hub
        return _in_group(info, _status_changes(hub, workspace_id, wanted))
