"""GraphQL schedule mutations (pause, resume, backfill), mixed into `Mutation`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry
from strawberry.types import Info

from runcast.domain import records
from runcast.resolvers import schedules
from runcast.schema.context import Context
from runcast.schema.types import Workflow, reads


@strawberry.type
class BackfillResult:
    """How many ticks the range holds, how many executions the backfill started (a tick
    that already had one starts none), and every tick's execution id."""

    ticks: int
    started: int
    execution_ids: list[strawberry.ID]


@strawberry.type
class ScheduleMutations:
    @reads(Workflow, mutation=True)
    async def pause_schedule(
        self, info: Info[Context, None], workspace_slug: str, workflow_id: strawberry.ID
    ) -> records.Workflow:
        """Stop the workflow's schedule from ticking until it is resumed."""
        caller = await info.context.caller()
        return await schedules.set_paused(caller, workspace_slug, workflow_id, True)

    @reads(Workflow, mutation=True)
    async def resume_schedule(
        self, info: Info[Context, None], workspace_slug: str, workflow_id: strawberry.ID
    ) -> records.Workflow:
        """Tick again from the next tick after now; ticks while paused are not made up."""
        caller = await info.context.caller()
        return await schedules.set_paused(caller, workspace_slug, workflow_id, False)

    @strawberry.mutation
    async def backfill_schedule(
        self,
        info: Info[Context, None],
        workspace_slug: str,
        workflow_id: strawberry.ID,
        start: Annotated[datetime, strawberry.argument(name="from")],
        end: Annotated[datetime, strawberry.argument(name="to")],
    ) -> BackfillResult:
        """Start one execution per tick from `from` to `to` (both included, at most 1,000
        ticks)."""
        caller = await info.context.caller()
        engine = info.context.app_state.engine
        result = await schedules.backfill(caller, workspace_slug, workflow_id, start, end, engine)
        return BackfillResult(
            ticks=result.ticks,
            started=result.started,
            execution_ids=[strawberry.ID(i) for i in result.execution_ids],
        )
