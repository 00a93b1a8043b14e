"""Execution history: filtered, paginated listings with statistics computed by the database."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from types import MappingProxyType
from typing import cast

from pypika_tortoise.context import SqlContext
from pypika_tortoise.terms import AggregateFunction, Term
from tortoise import connections
from tortoise.expressions import Aggregate
from tortoise.functions import Count, Sum
from tortoise.queryset import QuerySet

from runcast.domain import records
from runcast.domain.callers import Caller
from runcast.domain.enums import FINAL_EXECUTION_STATUSES, ExecutionStatus
from runcast.errors import ExecutionNotFound, ValidationError
from runcast.ids import is_wellformed_id
from runcast.models import Execution, Role, StepRun, Workflow
from runcast.resolvers import records as to_record
from runcast.resolvers.auth import require_role
from runcast.resolvers.executions import load_steps_with_state
from runcast.resolvers.workflows import get_workflow_in
from runcast.store import reads

STATUSES = tuple(ExecutionStatus)
DEFAULT_LIMIT = 20
MAX_LIMIT = 100
MAX_OFFSET = 2**31 - 1
PERCENTILES = (50, 95)
_INTEGER = re.compile(r"-?[0-9]{1,30}")
# A `+01:00` offset typed unencoded into a query string arrives as ` 01:00`.
_SPACED_OFFSET = re.compile(
    r"(.+[0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]+)?)?) ([0-9]{2}:?[0-9]{2})"
)


@dataclass(frozen=True)
class HistoryQuery:
    """Validated listing filters: statuses (empty means all), a startedAt range, a page."""

    statuses: tuple[str, ...] = ()
    started_from: datetime | None = None
    started_to: datetime | None = None
    offset: int = 0
    limit: int = DEFAULT_LIMIT


def _invalid(field: str, message: str) -> ValidationError:
    return ValidationError(f"{field}: {message}", [{"field": field}])


def _blank(value: str | int | None) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _statuses(value: str | Sequence[str] | None) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else list(value or ())
    chosen: list[str] = []
    for part in (p.strip().upper() for item in items for p in item.split(",")):
        if not part:
            continue
        if part not in STATUSES:
            raise _invalid("status", f"unknown status; expected some of {', '.join(STATUSES)}")
        if part not in chosen:
            chosen.append(part)
    return tuple(chosen)


def _instant(field: str, value: str | None) -> datetime | None:
    """An ISO 8601 date or date-time in UTC; one without an offset is taken as UTC."""
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


def parse_query(
    *,
    status: str | Sequence[str] | None = None,
    from_: str | None = None,
    to: str | None = None,
    offset: str | int | None = None,
    limit: str | int | None = None,
) -> HistoryQuery:
    """Validate listing arguments as REST query strings or GraphQL values give them.

    `status` is one status, a comma-separated list or a sequence; `from`/`to` bound
    startedAt inclusively; `limit` is clamped to 1..100; blank values count as absent.
    """
    started_from, started_to = _instant("from", from_), _instant("to", to)
    if started_from and started_to and started_from > started_to:
        raise _invalid("from", "must not be after to")
    skip = _integer("offset", offset)
    if skip is not None and not 0 <= skip <= MAX_OFFSET:
        raise _invalid("offset", f"must be between 0 and {MAX_OFFSET}")
    size = _integer("limit", limit)
    return HistoryQuery(
        statuses=_statuses(status),
        started_from=started_from,
        started_to=started_to,
        offset=skip or 0,
        limit=DEFAULT_LIMIT if size is None else min(max(size, 1), MAX_LIMIT),
    )


class _PercentileDiscTerm(AggregateFunction):
    """`PERCENTILE_DISC(fraction) WITHIN GROUP (ORDER BY term)`, Postgres' nearest rank."""

    def __init__(self, term: Term, fraction: float) -> None:
        super().__init__("PERCENTILE_DISC", term)
        self.fraction = float(fraction)

    def get_function_sql(self, ctx: SqlContext) -> str:
        order = self.get_arg_sql(self.args[0], ctx)
        return f"PERCENTILE_DISC({self.fraction!r}) WITHIN GROUP (ORDER BY {order})"


class PercentileDisc(Aggregate):
    """Postgres' nearest-rank percentile. Its rank, ceil(fraction * n) in float8, equals the
    exact rank for 0.5 and 0.95: their doubles are exact or just below the decimal value."""

    database_func = _PercentileDiscTerm
    populate_field_object = True


def nearest_rank(percent: int, count: int) -> int:
    """The 1-based rank of the nearest-rank percentile: ceil(percent * count / 100)."""
    return -(-percent * count // 100)


def _matching(
    workspace_id: str, workflow: Workflow | None, query: HistoryQuery
) -> QuerySet[Execution]:
    if workflow is not None:
        matching = Execution.filter(workflow_id=workflow.id)
    else:
        matching = Execution.filter(workspace_id=workspace_id)
    if query.statuses:
        matching = matching.filter(status__in=query.statuses)
    if query.started_from is not None:
        matching = matching.filter(started_at__gte=query.started_from)
    if query.started_to is not None:
        matching = matching.filter(started_at__lte=query.started_to)
    return matching


async def _percentiles(finished: QuerySet[Execution], count: int) -> dict[int, int | None]:
    """Nearest-rank percentiles of duration_ms over `finished` (which holds `count` rows)."""
    if count == 0:
        return dict.fromkeys(PERCENTILES)
    if connections.get("default").capabilities.dialect == "postgres":
        names = {f"p{p}": p for p in PERCENTILES}
        terms = {name: PercentileDisc("duration_ms", p / 100) for name, p in names.items()}
        row = (await finished.annotate(**terms).values(*names))[0]
        return {p: row[name] for name, p in names.items()}
    ordered = finished.order_by("duration_ms")
    values: dict[int, int | None] = {}
    for p in PERCENTILES:
        found = (
            await ordered.offset(nearest_rank(p, count) - 1)
            .limit(1)
            .values_list("duration_ms", flat=True)
        )
        values[p] = cast(int, found[0]) if found else None
    return values


def _rounded_rate(part: int, whole: int) -> float:
    if whole == 0:
        return 0.0
    rate = Decimal(100 * part) / Decimal(whole)
    return float(rate.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


async def statistics_of(matching: QuerySet[Execution]) -> records.Statistics:
    """Counts by status, success rate and duration figures, all aggregated by the database.

    Durations count for finished executions that have one; the average rounds half up to a
    whole millisecond, and it and the percentiles are null when no execution qualifies.
    """
    # COUNT(status) rather than COUNT(id): every column read is then in the covering
    # (workflow_id, status, started_at, duration_ms) index, and the table is never visited.
    rows = (
        await matching.annotate(
            count=Count("status"), timed=Count("duration_ms"), total_ms=Sum("duration_ms")
        )
        .group_by("status")
        .values("status", "count", "timed", "total_ms")
    )
    counts = {row["status"]: row["count"] for row in rows}
    finished = [row for row in rows if row["status"] in FINAL_EXECUTION_STATUSES]
    timed = sum(row["timed"] for row in finished)
    total_ms = sum(row["total_ms"] or 0 for row in finished)
    total = sum(counts.values())
    percentiles = await _percentiles(
        matching.filter(status__in=FINAL_EXECUTION_STATUSES, duration_ms__isnull=False), timed
    )
    return records.Statistics(
        total=total,
        by_status=MappingProxyType(
            {status: counts[status] for status in STATUSES if counts.get(status)}
        ),
        success_rate=_rounded_rate(counts.get(ExecutionStatus.COMPLETED, 0), total),
        average_duration_ms=(2 * total_ms + timed) // (2 * timed) if timed else None,
        p50_duration_ms=percentiles[50],
        p95_duration_ms=percentiles[95],
    )


async def _page(matching: QuerySet[Execution], query: HistoryQuery) -> list[Execution]:
    ordered = matching.order_by("-started_at", "-id")
    return list(await ordered.offset(query.offset).limit(query.limit))


def _pagination(query: HistoryQuery, total: int, shown: int) -> records.Pagination:
    return records.Pagination(
        total=total,
        offset=query.offset,
        limit=query.limit,
        has_more=query.offset + shown < total,
    )


async def _workflow_names(
    executions: list[Execution], workflow: Workflow | None
) -> dict[str, records.WorkflowRef]:
    if workflow is not None:
        return {workflow.id: to_record.workflow_ref(workflow)}
    ids = {e.workflow_id for e in executions}
    if not ids:
        return {}
    rows = await Workflow.filter(id__in=ids).values("id", "name")
    return {row["id"]: records.WorkflowRef(id=row["id"], name=row["name"]) for row in rows}


async def _items(
    executions: list[Execution],
    workflow: Workflow | None,
    steps: dict[str, list[StepRun]] | None = None,
) -> tuple[records.Execution, ...]:
    names = await _workflow_names(executions, workflow)
    return tuple(
        to_record.execution(
            execution,
            None if steps is None else steps[execution.id],
            workflow=names[execution.workflow_id],
        )
        for execution in executions
    )


async def list_executions(
    caller: Caller, workspace: str, workflow_id: str | None, query: HistoryQuery
) -> records.ExecutionPage:
    """A page of one workflow's executions, or of the whole workspace's, with statistics."""
    access = await require_role(caller, workspace, Role.VIEWER)
    workflow = None if workflow_id is None else await get_workflow_in(access, workflow_id)
    matching = _matching(access.workspace.id, workflow, query)
    statistics = await statistics_of(matching)
    page = await _page(matching, query)
    return records.ExecutionPage(
        executions=await _items(page, workflow),
        pagination=_pagination(query, statistics.total, len(page)),
        statistics=statistics,
    )


async def _one_execution(workflow: Workflow, execution_id: str) -> records.Execution:
    execution = None
    if is_wellformed_id(execution_id):
        execution = await Execution.get_or_none(id=execution_id, workflow_id=workflow.id)
    if execution is None:
        raise ExecutionNotFound(f"Execution {execution_id!r} not found in this workflow")
    steps = await load_steps_with_state(execution)
    brief = records.WorkflowBrief(
        id=workflow.id, name=workflow.name, description=workflow.description
    )
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
    matching = _matching(access.workspace.id, workflow, query)
    total = await matching.count()
    page = await _page(matching, query)
    return records.ExecutionPage(
        executions=await _items(page, workflow, await reads.steps_with_state(page)),
        pagination=_pagination(query, total, len(page)),
    )
