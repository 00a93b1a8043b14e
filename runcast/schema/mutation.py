"""GraphQL mutations."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from runcast.resolvers import executions, workflows
from runcast.schema.context import Context
from runcast.schema.types import (
    CancelledExecution,
    CancelResult,
    ExecuteInput,
    Execution,
    ExecutionStatus,
    Workflow,
    WorkflowInput,
    to_wire,
)


@strawberry.type
class Mutation:
    @strawberry.mutation
    async def create_workflow(
        self, info: Info[Context, None], workspace_slug: str, input: WorkflowInput
    ) -> Workflow:
        caller = await info.context.caller()
        data = await workflows.create_workflow(caller, workspace_slug, to_wire(input))
        return Workflow.from_wire(data)

    @strawberry.mutation
    async def update_workflow(
        self, info: Info[Context, None], workspace_slug: str, id: str, input: WorkflowInput
    ) -> Workflow:
        caller = await info.context.caller()
        data = await workflows.update_workflow(caller, workspace_slug, id, to_wire(input))
        return Workflow.from_wire(data)

    @strawberry.mutation
    async def delete_workflow(
        self, info: Info[Context, None], workspace_slug: str, id: str
    ) -> Workflow:
        caller = await info.context.caller()
        return Workflow.from_wire(await workflows.delete_workflow(caller, workspace_slug, id))

    @strawberry.mutation
    async def execute_workflow(
        self,
        info: Info[Context, None],
        workspace_slug: str,
        workflow_id: str,
        input: ExecuteInput | None = None,
    ) -> Execution:
        caller = await info.context.caller()
        body = to_wire(input) if input is not None else {}
        key = body.pop("idempotencyKey", None)
        request = executions.parse_execute(body, key)
        engine = info.context.app_state.engine
        started = await executions.execute(caller, workspace_slug, workflow_id, request, engine)
        return Execution.from_status(await executions.status_view(started.execution))

    @strawberry.mutation
    async def cancel_execution(
        self, info: Info[Context, None], workspace_slug: str, execution_id: str
    ) -> CancelResult:
        caller = await info.context.caller()
        engine = info.context.app_state.engine
        result = await executions.cancel_execution(caller, workspace_slug, execution_id, engine)
        cancelled = result["execution"]
        return CancelResult(
            success=result["success"],
            message=result["message"],
            execution=CancelledExecution(
                id=cancelled["id"],
                status=ExecutionStatus(cancelled["status"]),
                error=cancelled["error"],
                completed_at=cancelled["completedAt"],
            ),
        )
