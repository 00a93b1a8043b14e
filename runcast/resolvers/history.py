"""Execution history: filtered listings (by offset, by cursor, or as a Relay connection)
with statistics computed by the database.

This module validates arguments, checks access and maps what `runcast.store.history`
reads into domain records; the queries themselves live in the store.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType

from runcast.domain import records
from runcast.domain.callers import Caller
from runcast.domain.enums import ExecutionStatus, Role, TriggerType
from runcast.errors import ExecutionNotFound, ValidationError
from runcast.ids import is_wellformed_id
from runcast.models import Execution, StepRun, Workflow
from runcast.resolvers import records as to_record
from runcast.resolvers.auth import Access, require_role
from runcast.resolvers.executions import load_steps_with_state
from runcast.resolvers.workflows import get_workflow_in
from runcast.store import history as store
from runcast.store import reads
from runcast.store.history import DataMatch, ExecutionFilter, Keyset, Scope, Window

STATUSES = tuple(ExecutionStatus)
TRIGGER_TYPES = tuple(TriggerType)
DEFAULT_LIMIT = 20
MAX_LIMIT = 100
MAX_OFFSET = 2**31 - 1
MAX_TEXT = 200
CURSOR_VERSION = "v1"
_INTEGER = re.compile(r"-?[0-9]{1,30}")
# A `+01:00` offset typed unencoded into a query string arrives as ` 01:00`.
_SPACED_OFFSET = re.compile(
    r"(.+[0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]+)?)?) ([0-9]{2}:?[0-9]{2})"
)
MAX_CURSOR_LENGTH = 512
"""Longer than any cursor `encode_cursor` makes (about 150 characters at most)."""
TRIGGER_DATA = "triggerData"
MAX_DATA_MATCHES = 5
MAX_DATA_PATH = 200
MAX_DATA_INTEGER = 2**53
_DATA_PATH = re.compile(r"[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*")


@dataclass(frozen=True)
class HistoryQuery:
    """An offset listing's filters and page: `limit` rows past `offset`, or right after
    `cursor` (the place a previous page's `nextCursor` names) in its stead."""

    filters: ExecutionFilter = field(default_factory=ExecutionFilter)
    offset: int = 0
    limit: int = DEFAULT_LIMIT
    cursor: Keyset | None = None


@dataclass(frozen=True)
class Slice:
    """A connection's page: the `size` executions after `after` (and before `before`),
    or with `from_end` the last `size` of them."""

    size: int = DEFAULT_LIMIT
    after: Keyset | None = None
    before: Keyset | None = None
    from_end: bool = False


@dataclass(frozen=True)
class Wants:
    """Which figures over every matching execution a connection's reader selected."""

    total_count: bool = True
    statistics: bool = True


def _invalid(field: str, message: str) -> ValidationError:
    return ValidationError(f"{field}: {message}", [{"field": field}])


def _blank(value: str | int | None) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _words(value: str | Sequence[str] | None) -> list[str]:
    items = [value] if isinstance(value, str) else list(value or ())
    return [part for item in items for part in (p.strip() for p in item.split(",")) if part]


def _statuses(value: str | Sequence[str] | None) -> tuple[ExecutionStatus, ...]:
    chosen: list[ExecutionStatus] = []
    for part in (word.upper() for word in _words(value)):
        if part not in STATUSES:
            raise _invalid("status", f"unknown status; expected some of {', '.join(STATUSES)}")
        if part not in chosen:
            chosen.append(ExecutionStatus(part))
    return tuple(chosen)


def _trigger_types(value: str | Sequence[str] | None) -> tuple[TriggerType, ...]:
    chosen: list[TriggerType] = []
    for part in (word.lower() for word in _words(value)):
        if part not in TRIGGER_TYPES:
            raise _invalid(
                "triggerType", f"unknown trigger type; expected some of {', '.join(TRIGGER_TYPES)}"
            )
        if part not in chosen:
            chosen.append(TriggerType(part))
    return tuple(chosen)


def _text(field: str, value: str | None) -> str | None:
    if value is None or _blank(value):
        return None
    if len(value) > MAX_TEXT:
        raise _invalid(field, f"must be at most {MAX_TEXT} characters")
    return value.strip()


def _instant(field: str, value: str | datetime | None) -> datetime | None:
    """An ISO 8601 date or date-time in UTC; one without an offset is taken as UTC."""
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    if value is None or _blank(value):
        return None
    text = value.strip()
    spaced = _SPACED_OFFSET.fullmatch(text)
    if spaced:
        text = f"{spaced[1]}+{spaced[2]}"
    try:
        moment = datetime.fromisoformat(text)
        if moment.tzinfo is None:
            return moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC)
    except (ValueError, OverflowError):
        raise _invalid(
            field, "must be an ISO 8601 date or date-time, like 2024-12-05T10:00:00Z"
        ) from None


def _integer(field: str, value: str | int | None) -> int | None:
    if value is None or _blank(value):
        return None
    if isinstance(value, int):
        return value
    text = value.strip()
    if not _INTEGER.fullmatch(text):
        raise _invalid(field, "must be an integer")
    return int(text)


def encode_cursor(key: Keyset) -> str:
    """An opaque cursor naming a place in the listing order (versioned, URL-safe)."""
    text = json.dumps([CURSOR_VERSION, key.started_at.astimezone(UTC).isoformat(), key.id])
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(field: str, cursor: str | None) -> Keyset | None:
    """The place a cursor of `encode_cursor` names; VALIDATION_ERROR for anything else."""
    if cursor is None or _blank(cursor):
        return None
    problem = _invalid(field, "is not a cursor of this listing")
    text = cursor.strip()
    if len(text) > MAX_CURSOR_LENGTH:
        raise problem
    try:
        decoded = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (binascii.Error, ValueError):
        raise problem from None
    if not (
        isinstance(decoded, list)
        and len(decoded) == 3
        and decoded[0] == CURSOR_VERSION
        and all(isinstance(part, str) for part in decoded[1:])
        and is_wellformed_id(decoded[2])
    ):
        raise problem
    try:
        moment = datetime.fromisoformat(decoded[1])
    except ValueError:
        raise problem from None
    if moment.tzinfo is None:
        raise problem
    return Keyset(moment.astimezone(UTC), decoded[2])


def query_value(text: str) -> object:
    """A REST `triggerData.<path>` parameter's value: the JSON scalar it spells (`42`,
    `true`, `null`, `"42"`), or else the text itself as a string."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def _data_value(field: str, value: object) -> store.Scalar:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        if abs(value) > MAX_DATA_INTEGER:
            raise _invalid(field, f"integers must be within ±{MAX_DATA_INTEGER}")
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _invalid(field, "must be a finite number")
        return value
    if isinstance(value, str):
        if len(value) > MAX_TEXT:
            raise _invalid(field, f"must be at most {MAX_TEXT} characters")
        return value
    raise _invalid(field, "must be a JSON string, number, boolean or null")


def _data_matches(given: Sequence[tuple[str, object]]) -> tuple[DataMatch, ...]:
    """Trigger data matches: at most 5, each a dotted path of object keys (letters, digits,
    `_`, `-`; at most 200 characters) and a JSON scalar."""
    if len(given) > MAX_DATA_MATCHES:
        raise _invalid(TRIGGER_DATA, f"at most {MAX_DATA_MATCHES} matches, got {len(given)}")
    matches = []
    for path, value in given:
        field = f"{TRIGGER_DATA}.{path[:MAX_DATA_PATH]}"
        if len(path) > MAX_DATA_PATH or not _DATA_PATH.fullmatch(path):
            raise _invalid(
                field,
                f"the path must be keys of letters, digits, '_' or '-' joined by '.', "
                f"at most {MAX_DATA_PATH} characters",
            )
        matches.append(DataMatch(tuple(path.split(".")), _data_value(field, value)))
    return tuple(matches)


def parse_filters(
    *,
    status: str | Sequence[str] | None = None,
    from_: str | datetime | None = None,
    to: str | datetime | None = None,
    trigger_type: str | Sequence[str] | None = None,
    triggered_by: str | None = None,
    search: str | None = None,
    trigger_data: Sequence[tuple[str, object]] = (),
) -> ExecutionFilter:
    """Validate listing filters as REST query strings or GraphQL values give them.

    `status` and `trigger_type` are one value, a comma-separated list or a sequence;
    `from`/`to` bound startedAt inclusively; blank values count as absent; `trigger_data`
    pairs a dotted path with the JSON scalar the trigger data must hold there.
    """
    started_from, started_to = _instant("from", from_), _instant("to", to)
    if started_from and started_to and started_from > started_to:
        raise _invalid("from", "must not be after to")
    return ExecutionFilter(
        statuses=_statuses(status),
        started_from=started_from,
        started_to=started_to,
        trigger_types=_trigger_types(trigger_type),
        triggered_by=_text("triggeredBy", triggered_by),
        search=_text("search", search),
        trigger_data=_data_matches(trigger_data),
    )


def parse_query(
    filters: ExecutionFilter,
    *,
    offset: str | int | None = None,
    limit: str | int | None = None,
    cursor: str | None = None,
) -> HistoryQuery:
    """An offset listing's page: `limit` is clamped to 1..100; `cursor` (a previous page's
    `nextCursor`) replaces `offset`, and giving both is VALIDATION_ERROR."""
    skip = _integer("offset", offset)
    if skip is not None and not 0 <= skip <= MAX_OFFSET:
        raise _invalid("offset", f"must be between 0 and {MAX_OFFSET}")
    place = decode_cursor("cursor", cursor)
    if place is not None and skip is not None:
        raise _invalid("cursor", "replaces offset: give one of them")
    size = _integer("limit", limit)
    return HistoryQuery(
        filters=filters,
        offset=skip or 0,
        limit=DEFAULT_LIMIT if size is None else min(max(size, 1), MAX_LIMIT),
        cursor=place,
    )


def _page_size(field: str, value: int | None) -> int | None:
    if value is not None and not 1 <= value <= MAX_LIMIT:
        raise _invalid(field, f"must be between 1 and {MAX_LIMIT}")
    return value


def parse_slice(
    *,
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
) -> Slice:
    """A connection's page: `first` (after `after`) or `last` (before `before`), 1..100,
    20 executions forward when neither is given; both together is VALIDATION_ERROR."""
    if first is not None and last is not None:
        raise _invalid("last", "cannot be combined with first: page forward or backward")
    forward, backward = _page_size("first", first), _page_size("last", last)
    return Slice(
        size=forward or backward or DEFAULT_LIMIT,
        after=decode_cursor("after", after),
        before=decode_cursor("before", before),
        from_end=backward is not None,
    )


def _rounded_rate(part: int, whole: int) -> float:
    """A percentage with two decimals, rounded half up, in integers (exact)."""
    if whole == 0:
        return 0.0
    return (20_000 * part // whole + 1) // 2 / 100


def statistics_of(figures: store.Figures | None) -> records.Statistics:
    """Statistics from what the database counted (None: no execution matched): counts by
    status, success rate, duration figures. Durations count for finished executions that
    have one; the average rounds half up to a whole millisecond, and it and the
    percentiles are null when no execution qualifies."""
    if figures is None:
        return NO_STATISTICS
    counts = figures.counts
    total = sum(counts.values())
    timed = figures.timed
    return records.Statistics(
        total=total,
        by_status=MappingProxyType(
            {status: counts[status] for status in STATUSES if counts.get(status)}
        ),
        success_rate=_rounded_rate(counts.get(ExecutionStatus.COMPLETED, 0), total),
        average_duration_ms=(2 * figures.total_ms + timed) // (2 * timed) if timed else None,
        p50_duration_ms=figures.percentiles[50],
        p95_duration_ms=figures.percentiles[95],
    )


NO_STATISTICS = records.Statistics(
    total=0,
    by_status=MappingProxyType({}),
    success_rate=0.0,
    average_duration_ms=None,
    p50_duration_ms=None,
    p95_duration_ms=None,
)
"""The statistics of no execution at all."""


async def workflow_statistics(
    user_id: str, workflow_ids: Sequence[str]
) -> list[records.Statistics]:
    """The statistics of each of these workflows, in their order, as its listing shows them
    (GraphQL's batched `Workflow.statistics`): a fixed number of statements for any number
    of workflows. A workflow the user may not read, or that has no execution, has none."""
    figures = await store.statistics_by_workflow(user_id, workflow_ids)
    return [statistics_of(figures.get(workflow_id)) for workflow_id in workflow_ids]


async def _workflow_names(
    executions: Sequence[Execution], workflow: Workflow | None
) -> dict[str, str]:
    """The name of each execution's workflow, by id (one read for a workspace's listing)."""
    if workflow is not None:
        return {workflow.id: workflow.name}
    return await store.workflow_names([e.workflow_id for e in executions])


async def _items(
    executions: Sequence[Execution],
    workflow: Workflow | None,
    steps: dict[str, list[StepRun]] | None = None,
) -> tuple[records.Execution, ...]:
    """Executions as listings show them: with a reference to their workflow."""
    names = await _workflow_names(executions, workflow)
    return tuple(
        to_record.execution(
            execution,
            None if steps is None else steps[execution.id],
            workflow=records.WorkflowRef(execution.workflow_id, names[execution.workflow_id]),
        )
        for execution in executions
    )


async def _offset_page(
    scope: Scope, query: HistoryQuery, total: int
) -> tuple[list[Execution], records.Pagination]:
    """An offset listing's executions and pagination; by cursor, one row more is read to
    tell whether more follow."""
    if query.cursor is None:
        page = await store.execution_page(scope, query.filters, Window(query.limit, query.offset))
        has_more = query.offset + len(page) < total
    else:
        page = await store.execution_page(
            scope, query.filters, Window(query.limit + 1, after=query.cursor)
        )
        has_more = len(page) > query.limit
        page = page[: query.limit]
    pagination = records.Pagination(
        total=total,
        offset=query.offset,
        limit=query.limit,
        has_more=has_more,
        next_cursor=encode_cursor(Keyset.of(page[-1])) if has_more and page else None,
    )
    return page, pagination


async def _scope(
    caller: Caller, workspace: str, workflow_id: str | None
) -> tuple[Scope, Workflow | None]:
    """The executions a VIEWER of the workspace may list: the workspace's, or one of its
    workflow's (WORKFLOW_NOT_FOUND for any other)."""
    access: Access = await require_role(caller, workspace, Role.VIEWER)
    workflow = None if workflow_id is None else await get_workflow_in(access, workflow_id)
    return Scope(access.workspace.id, None if workflow is None else workflow.id), workflow


async def list_executions(
    caller: Caller, workspace: str, workflow_id: str | None, query: HistoryQuery
) -> records.ExecutionPage:
    """A page of one workflow's executions, or of the whole workspace's, with statistics."""
    scope, workflow = await _scope(caller, workspace, workflow_id)
    statistics = statistics_of(await store.statistics(scope, query.filters))
    page, pagination = await _offset_page(scope, query, statistics.total)
    return records.ExecutionPage(
        executions=await _items(page, workflow),
        pagination=pagination,
        statistics=statistics,
    )


async def _one_execution(workflow: Workflow, execution_id: str) -> records.Execution:
    execution = None
    if is_wellformed_id(execution_id):
        execution = await store.execution_in_workflow(workflow.id, execution_id)
    if execution is None:
        raise ExecutionNotFound(f"Execution {execution_id!r} not found in this workflow")
    steps = await load_steps_with_state(execution)
    brief = to_record.workflow_brief(workflow, with_state=False)
    return to_record.execution(execution, steps, workflow=brief, with_summary=True)


async def execution_history(
    caller: Caller,
    workspace: str,
    workflow_id: str,
    query: HistoryQuery,
    execution_id: str | None = None,
) -> records.Execution | records.ExecutionPage:
    """One execution with its steps and summary, or a page of executions with their steps."""
    access = await require_role(caller, workspace, Role.VIEWER)
    workflow = await get_workflow_in(access, workflow_id)
    if execution_id is not None:
        return await _one_execution(workflow, execution_id)
    scope = Scope(access.workspace.id, workflow.id)
    total = await store.count(scope, query.filters)
    page, pagination = await _offset_page(scope, query, total)
    return records.ExecutionPage(
        executions=await _items(page, workflow, await reads.steps_with_state(page)),
        pagination=pagination,
    )


async def _beyond(
    scope: Scope, matching: ExecutionFilter, key: Keyset | None, *, newer: bool
) -> bool:
    """Whether executions match at the cursor a page was read from, or beyond it on the
    side the page does not cover; False without a cursor (the page starts at an end)."""
    if key is None:
        return False
    return await store.exists_beyond(scope, matching, key, newer=newer)


async def execution_connection(
    caller: Caller,
    workspace: str,
    workflow_id: str | None,
    filters: ExecutionFilter,
    slice_: Slice,
    wants: Wants = Wants(),
) -> records.ExecutionConnection:
    """A Relay connection over one workflow's executions, or the whole workspace's,
    newest first; `wants` says which figures to read. A fixed number of queries whatever
    the page size: the page (one row more than asked, to tell whether another page
    follows), one existence check past a given cursor, and the statistics or the count.
    The nodes carry neither steps nor workflow: GraphQL loads those in batches."""
    scope, _ = await _scope(caller, workspace, workflow_id)
    window = Window(
        slice_.size + 1, after=slice_.after, before=slice_.before, backward=slice_.from_end
    )
    page = await store.execution_page(scope, filters, window)
    more = len(page) > slice_.size
    page = page[1:] if more and slice_.from_end else page[: slice_.size]
    if slice_.from_end:
        has_previous = more
        has_next = await _beyond(scope, filters, slice_.before, newer=False)
    else:
        has_next = more
        has_previous = await _beyond(scope, filters, slice_.after, newer=True)
    edges = tuple(
        records.ExecutionEdge(encode_cursor(Keyset.of(execution)), to_record.execution(execution))
        for execution in page
    )
    statistics = None
    if wants.statistics:
        statistics = statistics_of(await store.statistics(scope, filters))
    total = statistics.total if statistics is not None else None
    if total is None and wants.total_count:
        total = await store.count(scope, filters)
    return records.ExecutionConnection(
        edges=edges,
        page_info=records.PageInfo(
            has_next_page=has_next,
            has_previous_page=has_previous,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        ),
        total_count=total,
        statistics=statistics,
    )
