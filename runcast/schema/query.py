"""GraphQL queries."""

from __future__ import annotations

from typing import Annotated

import strawberry
from strawberry.types import Info

from runcast.resolvers import executions, history, outputs, workflows
from runcast.resolvers.me import describe_caller
from runcast.schema.context import Context
from runcast.schema.types import (
    Execution,
    ExecutionList,
    ExecutionStatus,
    Me,
    Notification,
    Task,
    Workflow,
)


@strawberry.type
class Query:
    @strawberry.field
    async def me(self, info: Info[Context, None]) -> Me:
        data = await describe_caller(await info.context.caller())
        return Me(id=data["id"], name=data["name"], memberships=data["memberships"])

    @strawberry.field
    async def workflows(self, info: Info[Context, None], workspace_slug: str) -> list[Workflow]:
        caller = await info.context.caller()
        return [
            Workflow.from_wire(w) for w in await workflows.list_workflows(caller, workspace_slug)
        ]

    @strawberry.field
    async def workflow(self, info: Info[Context, None], workspace_slug: str, id: str) -> Workflow:
        caller = await info.context.caller()
        return Workflow.from_wire(await workflows.get_workflow(caller, workspace_slug, id))

    @strawberry.field
    async def execution(self, info: Info[Context, None], workspace_slug: str, id: str) -> Execution:
        caller = await info.context.caller()
        return Execution.from_status(await executions.execution_status(caller, workspace_slug, id))

    @strawberry.field
    async def executions(
        self,
        info: Info[Context, None],
        workspace_slug: str,
        workflow_id: str | None = None,
        status: list[ExecutionStatus] | None = None,
        from_: Annotated[str | None, strawberry.argument(name="from")] = None,
        to: str | None = None,
        offset: int | None = None,
        limit: int | None = None,
    ) -> ExecutionList:
        """Executions of one workflow, or of the whole workspace, with their statistics."""
        caller = await info.context.caller()
        query = history.parse_query(
            status=[s.value for s in status or ()], from_=from_, to=to, offset=offset, limit=limit
        )
        listing = await history.list_executions(caller, workspace_slug, workflow_id, query)
        return ExecutionList.from_wire(listing)

    @strawberry.field
    async def tasks(self, info: Info[Context, None], workspace_slug: str) -> list[Task]:
        caller = await info.context.caller()
        return [Task.from_wire(t) for t in await outputs.list_tasks(caller, workspace_slug)]

    @strawberry.field
    async def notifications(
        self, info: Info[Context, None], workspace_slug: str
    ) -> list[Notification]:
        caller = await info.context.caller()
        rows = await outputs.list_notifications(caller, workspace_slug)
        return [Notification.from_wire(n) for n in rows]
