"""GraphQL queries. Each answers the resolvers' domain records, which the types read."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from runcast.domain import records
from runcast.resolvers import executions, outputs, workflows
from runcast.resolvers.me import describe_caller
from runcast.schema.connections import ExecutionConnection, ExecutionFilter, resolve_executions
from runcast.schema.context import Context
from runcast.schema.nodes import NodeQueries
from runcast.schema.types import (
    Execution,
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

    @reads(ExecutionConnection)
    async def executions(
        self,
        info: Info[Context, None],
        workspace_slug: str,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        filter: ExecutionFilter | None = None,
    ) -> records.ExecutionConnection:
        """Executions of the workspace (or of `filter.workflowId`), newest first, with the
        total and statistics of every execution the filter matches."""
        return await resolve_executions(
            info,
            workspace_slug,
            None,
            first=first,
            after=after,
            last=last,
            before=before,
            filter=filter,
        )

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
