"""Relay connections over executions: `ExecutionConnection`, its filter, and the resolver
any field that lists executions shares (`Query.executions`, and a parent's `executions`
field, which passes its workflow id).

The resolver reads what the operation selected on the connection, so a page asked for
without `statistics` or `totalCount` does not pay for them; the nodes' steps and workflow
are loaded in batches by the `Execution` type.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info
from strawberry.types.nodes import FragmentSpread, InlineFragment, SelectedField, Selection

from runcast.domain import records
from runcast.resolvers import history
from runcast.schema.context import Context
from runcast.schema.types import (
    Execution,
    ExecutionStatistics,
    ExecutionStatus,
    TriggerType,
)


@strawberry.input(
    name="JSONPathMatch",
    description="A member of the trigger data equal to a JSON scalar: `path` is object keys "
    "(letters, digits, `_`, `-`) joined by `.`, at most 200 characters; `value` a string, "
    "number, boolean or null (type and value must match; a missing member never matches).",
)
class JSONPathMatch:
    path: str
    value: JSON | None = None


@strawberry.input(description="Which executions a listing covers; absent fields match all.")
class ExecutionFilter:
    workflow_id: strawberry.ID | None = None
    status: list[ExecutionStatus] | None = None
    from_: datetime | None = strawberry.field(
        name="from", default=None, description="startedAt at or after this instant"
    )
    to: datetime | None = strawberry.field(
        default=None, description="startedAt at or before this instant"
    )
    trigger_type: list[TriggerType] | None = None
    triggered_by: strawberry.ID | None = None
    trigger_data: list[JSONPathMatch] | None = strawberry.field(
        default=None, description="Members of the trigger data, all of which must match (at most 5)"
    )
    search: str | None = strawberry.field(default=None, description="Text in the error message")


@strawberry.type
class ExecutionEdge:
    cursor: str
    node: Execution


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@strawberry.type(description="Executions newest first (by startedAt, then id), a page at a time")
class ExecutionConnection:
    edges: list[ExecutionEdge]
    page_info: PageInfo
    total_count: int = strawberry.field(description="How many executions match the filter")
    statistics: ExecutionStatistics = strawberry.field(
        description="Figures over every matching execution, not only this page"
    )


def _fields(selections: Iterable[Selection]) -> Iterator[SelectedField]:
    """The fields of a selection set, through its fragments."""
    for selection in selections:
        if isinstance(selection, SelectedField):
            yield selection
        elif isinstance(selection, FragmentSpread | InlineFragment):
            yield from _fields(selection.selections)


def wants_of(info: Info[Context, None]) -> history.Wants:
    """Which figures over every matching execution the current field's selection reads."""
    names = {
        part.name for field in _fields(info.selected_fields) for part in _fields(field.selections)
    }
    return history.Wants(total_count="totalCount" in names, statistics="statistics" in names)


async def resolve_executions(
    info: Info[Context, None],
    workspace: str,
    workflow_id: str | None,
    *,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
    filter: ExecutionFilter | None,
) -> records.ExecutionConnection:
    """The connection a listing field answers; a parent's field passes its workflow's id
    (which then wins over the filter's) and its workspace's id or slug."""
    given = filter or ExecutionFilter()
    slice_ = history.parse_slice(first=first, after=after, last=last, before=before)
    filters = history.parse_filters(
        status=[s.value for s in given.status or ()],
        from_=given.from_,
        to=given.to,
        trigger_type=[t.value for t in given.trigger_type or ()],
        triggered_by=given.triggered_by,
        search=given.search,
        trigger_data=[(match.path, match.value) for match in given.trigger_data or ()],
    )
    caller = await info.context.caller()
    return await history.execution_connection(
        caller,
        workspace,
        workflow_id if workflow_id is not None else given.workflow_id,
        filters,
        slice_,
        wants_of(info),
    )
