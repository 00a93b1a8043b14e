"""GraphQL mutations. Each answers the resolvers' domain records, which the types read."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from runcast.domain import records
from runcast.resolvers import executions, workflows
from runcast.schema.context import Context
from runcast.schema.types import (
    CancelResult,
    ExecuteInput,
    Execution,
    Workflow,
    WorkflowInput,
    reads,
    to_wire,
)


@strawberry.type
class Mutation:
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
