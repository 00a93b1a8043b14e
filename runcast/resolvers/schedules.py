"""Schedules: keeping a workflow's schedule row in step with its trigger, starting a tick's
execution, pause and resume, the next runs, and backfill (see docs/triggers.md).

A tick's execution has triggerType `schedule`, triggerData `{"scheduledAt": <tick>}` and
the idempotency key `§schedule:<tick in UTC>`: the unique (workflow, key) of executions
admits one execution per tick whichever node (or backfill) starts it first.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from runcast.domain import records
from runcast.domain.callers import Caller
from runcast.domain.clock import iso, utcnow
from runcast.domain.enums import TriggerType, WorkflowStatus
from runcast.engine.scheduler import Engine
from runcast.engine.schedules import ScheduleLoop, Starter, Tick, next_tick, ticks_after
from runcast.errors import BackfillTooLarge, NotScheduled, ValidationError, WorkflowInactive
from runcast.models import Role, Workflow
from runcast.resolvers import records as to_record
from runcast.resolvers.auth import require_role
from runcast.resolvers.executions import (
    TriggerStart,
    start_triggered,
    trigger_key,
    triggered_execution,
)
from runcast.resolvers.schedule_sync import adopt_schedules, schedule_trigger
from runcast.resolvers.trigger_input import check_cron, check_timezone
from runcast.resolvers.workflows import get_workflow_in
from runcast.store import schedules as store

MAX_BACKFILL_TICKS = 1000
BACKFILL_CONCURRENCY = 32
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
END_OF_TIME = datetime(9999, 1, 1, tzinfo=UTC)
"""A backfill's range lies in the years 1970 to 9998 (UTC): its ticks are looked for from
just before `from` to just after `to`, which must stay within what a datetime holds."""


def schedule_loop(engine: Engine, poll_s: float) -> ScheduleLoop:
    """The node's tick loop, starting ticks through `engine`; its first pass adopts the
    schedule workflows saved before schedules existed."""
    return ScheduleLoop(tick_starter(engine), poll_s, adopt=adopt_schedules)


def tick_starter(engine: Engine) -> Starter:
    """What the schedule loop calls to start ticks' executions: built as a trigger's
    (`triggered_execution`) and stored together (`Engine.submit_many`), a tick already
    started left out."""

    async def start(ticks: Sequence[Tick]) -> None:
        await engine.submit_many([triggered_execution(w, _tick_start(tick)) for w, tick in ticks])

    return start


def _tick_start(tick: datetime) -> TriggerStart:
    moment = iso(tick)
    assert moment is not None
    return TriggerStart(
        TriggerType.SCHEDULE, {"scheduledAt": moment}, trigger_key("schedule", moment)
    )


@dataclass(frozen=True)
class _Scheduled:
    """A schedule workflow with its stored cron and time zone, checked as a save checks
    them: a trigger stored before it was checked so is 422 WORKFLOW_INVALID naming the
    field (saving the workflow with a valid schedule mends it)."""

    workflow: Workflow
    trigger: dict[str, Any]
    cron: str
    timezone: str


async def _scheduled_workflow(
    caller: Caller, workspace: str, workflow_id: str, role: Role
) -> _Scheduled:
    access = await require_role(caller, workspace, role)
    workflow = await get_workflow_in(access, workflow_id)
    trigger = schedule_trigger(workflow)
    if trigger is None:
        raise NotScheduled(f"Workflow {workflow.id!r} has no schedule trigger")
    cron = check_cron(trigger.get("cron"))
    return _Scheduled(workflow, trigger, cron, check_timezone(trigger.get("timezone", "UTC")))


async def set_paused(
    caller: Caller, workspace: str, workflow_id: str, paused: bool
) -> records.Workflow:
    """Pause or resume a workflow's schedule: its trigger's `paused` and its row. ADMIN, as
    any change to a workflow: the trigger saved is the workflow's definition. Ticks while
    paused are not made up; resuming starts at the next tick after now."""
    scheduled = await _scheduled_workflow(caller, workspace, workflow_id, Role.ADMIN)
    workflow = scheduled.workflow
    workflow.trigger = {**scheduled.trigger, "paused": paused}
    await workflow.save(update_fields=["trigger", "updated_at"])
    await store.set_paused(
        workflow.id, paused, next_tick(scheduled.cron, scheduled.timezone, utcnow())
    )
    return to_record.workflow(workflow)


@dataclass(frozen=True)
class Backfill:
    """A backfill's answer: how many ticks the range holds, how many executions it started
    (a tick that already has one starts none) and every tick's execution id."""

    ticks: int
    started: int
    execution_ids: tuple[str, ...]


def parse_range(body: Any) -> tuple[datetime, datetime]:
    """`{"from", "to"}` of a REST body: ISO 8601 instants with a time zone (`backfill`
    checks the range itself)."""
    if not isinstance(body, dict):
        raise ValidationError("The request body must be a JSON object")
    unknown = sorted(set(body) - {"from", "to"})
    if unknown:
        raise ValidationError(f"{unknown[0]}: unknown field", [{"field": unknown[0]}])
    bounds = [_instant(body.get(name), name) for name in ("from", "to")]
    return bounds[0], bounds[1]


def check_range(start: datetime, end: datetime) -> None:
    """400 VALIDATION_ERROR naming the field unless `start` and `end` are instants (with a
    time zone) in the years 1970 to 9998, `start` not after `end`."""
    for field, moment in (("from", start), ("to", end)):
        if moment.utcoffset() is None:
            raise ValidationError(f"{field}: a time with a time zone", [{"field": field}])
        if not EARLIEST <= moment < END_OF_TIME:
            raise ValidationError(
                f"{field}: must lie in the years 1970 to 9998 (UTC)", [{"field": field}]
            )
    if start > end:
        raise ValidationError("from: must not be after to", [{"field": "from"}])


def _instant(value: Any, field: str) -> datetime:
    problem = ValidationError(
        f"{field}: an ISO 8601 time with a time zone, e.g. 2026-01-01T00:00:00Z",
        [{"field": field}],
    )
    if not isinstance(value, str):
        raise problem
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise problem from None
    if moment.tzinfo is None:
        raise problem
    return moment


async def backfill(
    caller: Caller, workspace: str, workflow_id: str, start: datetime, end: datetime, engine: Engine
) -> Backfill:
    """Start one execution per tick from `start` to `end` (both included, see
    `check_range`), regardless of the overlap policy and of a pause (EDITOR: it only
    starts executions); 422 BACKFILL_TOO_LARGE beyond `MAX_BACKFILL_TICKS`."""
    check_range(start, end)
    scheduled = await _scheduled_workflow(caller, workspace, workflow_id, Role.EDITOR)
    workflow = scheduled.workflow
    if workflow.status != WorkflowStatus.ACTIVE:
        raise WorkflowInactive(f"Workflow {workflow.id!r} is not active")
    ticks = _ticks_between(scheduled.cron, scheduled.timezone, start, end)
    slots = asyncio.Semaphore(BACKFILL_CONCURRENCY)

    async def start_one(tick: datetime) -> tuple[str, bool]:
        async with slots:
            started, new = await start_triggered(workflow, _tick_start(tick), engine)
            return started.execution.id, new

    results = await asyncio.gather(*(start_one(tick) for tick in ticks))
    return Backfill(
        ticks=len(ticks),
        started=sum(1 for _, new in results if new),
        execution_ids=tuple(execution_id for execution_id, _ in results),
    )


def _ticks_between(cron: str, timezone: str, start: datetime, end: datetime) -> list[datetime]:
    """The ticks from `start` to `end`, both included; BACKFILL_TOO_LARGE beyond
    `MAX_BACKFILL_TICKS`. A cron whose next tick after the range would fall after the
    year 9999 (e.g. February 29th near it) simply has no more ticks."""
    ticks: list[datetime] = []
    found = ticks_after(cron, timezone, start - _INSTANT)
    while True:
        try:
            tick = next(found)
        except ValueError:  # beyond the last year a datetime holds
            return ticks
        if tick > end:
            return ticks
        if len(ticks) == MAX_BACKFILL_TICKS:
            raise BackfillTooLarge(
                f"The range holds more than {MAX_BACKFILL_TICKS} ticks",
                [{"field": "to", "limit": MAX_BACKFILL_TICKS}],
            )
        ticks.append(tick)


_INSTANT = timedelta(microseconds=1)
