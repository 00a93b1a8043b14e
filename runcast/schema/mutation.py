"""GraphQL mutations."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from runcast.resolvers import workflows
from runcast.schema.context import Context
from runcast.schema.types import Workflow, WorkflowInput, to_wire


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
