"""GraphQL mutations. Each answers the resolvers' domain records, which the types read."""

from __future__ import annotations

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from runcast.domain import records
from runcast.resolvers import events, executions, webhooks, workflows
from runcast.schema.context import Context
from runcast.schema.schedules import ScheduleMutations
from runcast.schema.types import (
    CancelResult,
    ExecuteInput,
    Execution,
    Workflow,
    WorkflowInput,
    reads,
    to_wire,
)


@strawberry.input
class EmitEventInput:
    """An event: workflows of the workspace that follow `name` start with `data` as their
    trigger data; a repeated `id` starts nothing new."""

    name: str
    data: JSON | None = None
    id: strawberry.ID | None = None


@strawberry.type
class EmitEventResult:
    """The executions the event started (for a repeated id, those its first emission
    started)."""

    execution_ids: list[strawberry.ID]


@strawberry.type
class Mutation(ScheduleMutations):
    @reads(Workflow, mutation=True)
    async def create_workflow(
        self, info: Info[Context, None], workspace_slug: str, input: WorkflowInput
    ) -> records.Workflow:
        caller = await info.context.caller()
        return await workflows.create_workflow(caller, workspace_slug, to_wire(input))

    @reads(Workflow, mutation=True)
    async def update_workflow(
        self,
        info: Info[Context, None],
        workspace_slug: str,
        id: strawberry.ID,
        input: WorkflowInput,
    ) -> records.Workflow:
        caller = await info.context.caller()
        return await workflows.update_workflow(caller, workspace_slug, id, to_wire(input))

    @reads(Workflow, mutation=True)
    async def delete_workflow(
        self, info: Info[Context, None], workspace_slug: str, id: strawberry.ID
    ) -> records.Workflow:
        caller = await info.context.caller()
        return await workflows.delete_workflow(caller, workspace_slug, id)

    @reads(Execution, mutation=True)
    async def execute_workflow(
        self,
        info: Info[Context, None],
        workspace_slug: str,
        workflow_id: strawberry.ID,
        input: ExecuteInput | None = None,
    ) -> records.Execution:
        caller = await info.context.caller()
        body = to_wire(input) if input is not None else {}
        key = body.pop("idempotencyKey", None)
        request = executions.parse_execute(body, key)
        engine = info.context.app_state.engine
        started = await executions.execute(caller, workspace_slug, workflow_id, request, engine)
        return await executions.status_view(started.execution)

    @reads(CancelResult, mutation=True)
    async def cancel_execution(
        self, info: Info[Context, None], workspace_slug: str, execution_id: strawberry.ID
    ) -> records.CancelResult:
        caller = await info.context.caller()
        engine = info.context.app_state.engine
        return await executions.cancel_execution(caller, workspace_slug, execution_id, engine)

    @strawberry.mutation
    async def emit_event(
        self, info: Info[Context, None], workspace_slug: str, input: EmitEventInput
    ) -> EmitEventResult:
        caller = await info.context.caller()
        body = {"name": input.name, "data": input.data}
        if input.id is not None:
            body["id"] = str(input.id)
        engine = info.context.app_state.engine
        ids = await events.emit(caller, workspace_slug, body, engine)
        return EmitEventResult(execution_ids=[strawberry.ID(i) for i in ids])

    @reads(Workflow, mutation=True)
    async def rotate_webhook(
        self, info: Info[Context, None], workspace_slug: str, id: strawberry.ID
    ) -> records.Workflow:
        """A new hook URL for a webhook workflow; the old one answers 404 from now on."""
        caller = await info.context.caller()
        return await webhooks.rotate(caller, workspace_slug, id)
