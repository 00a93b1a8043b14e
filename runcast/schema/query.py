"""GraphQL queries. Each answers the resolvers' domain records, which the types read."""

from __future__ import annotations

from typing import Annotated

import strawberry
from strawberry.types import Info

from runcast.domain import records
from runcast.resolvers import executions, history, outputs, workflows
from runcast.resolvers.me import describe_caller
from runcast.schema.context import Context
from runcast.schema.nodes import NodeQueries
from runcast.schema.types import (
    Execution,
    ExecutionList,
    ExecutionStatus,
    Me,
    Notification,
    Task,
    Workflow,
    reads,
)


@strawberry.type
class Query(NodeQueries):
    @reads(Me)
    async def me(self, info: Info[Context, None]) -> records.Me:
        return await describe_caller(await info.context.caller())

    @reads(list[Workflow])
    async def workflows(
        self, info: Info[Context, None], workspace_slug: str
    ) -> list[records.Workflow]:
        caller = await info.context.caller()
        return await workflows.list_workflows(caller, workspace_slug)

    @reads(Workflow)
    async def workflow(
        self, info: Info[Context, None], workspace_slug: str, id: strawberry.ID
    ) -> records.Workflow:
        caller = await info.context.caller()
        return await workflows.get_workflow(caller, workspace_slug, id)

    @reads(Execution)
    async def execution(
        self, info: Info[Context, None], workspace_slug: str, id: strawberry.ID
    ) -> records.Execution:
        caller = await info.context.caller()
        return await executions.execution_status(caller, workspace_slug, id)

    @reads(ExecutionList)
    async def executions(
        self,
        info: Info[Context, None],
        workspace_slug: str,
        workflow_id: strawberry.ID | None = None,
        status: list[ExecutionStatus] | None = None,
        from_: Annotated[str | None, strawberry.argument(name="from")] = None,
        to: str | None = None,
        offset: int | None = None,
        limit: int | None = None,
    ) -> records.ExecutionPage:
        """Executions of one workflow, or of the whole workspace, with their statistics."""
        caller = await info.context.caller()
        query = history.parse_query(
            status=[s.value for s in status or ()], from_=from_, to=to, offset=offset, limit=limit
        )
        return await history.list_executions(caller, workspace_slug, workflow_id, query)

    @reads(list[Task])
    async def tasks(self, info: Info[Context, None], workspace_slug: str) -> list[records.Task]:
        caller = await info.context.caller()
        return await outputs.list_tasks(caller, workspace_slug)

    @reads(list[Notification])
    async def notifications(
        self, info: Info[Context, None], workspace_slug: str
    ) -> list[records.Notification]:
        caller = await info.context.caller()
        return await outputs.list_notifications(caller, workspace_slug)
