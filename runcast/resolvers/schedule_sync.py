"""A workflow's schedule as its trigger defines it: the schedule row kept in step with the
trigger whenever the workflow is saved, and the next runs it shows (see docs/triggers.md)."""

from __future__ import annotations

import logging
from datetime import datetime
from itertools import islice
from typing import Any
from zoneinfo import ZoneInfoNotFoundError

from croniter import CroniterError
from tortoise.exceptions import IntegrityError

from runcast.domain.clock import utcnow
from runcast.domain.enums import TriggerType, WorkflowStatus
from runcast.engine.schedules import next_tick, ticks_after
from runcast.errors import WorkflowInvalid
from runcast.models import Schedule, Workflow
from runcast.resolvers.trigger_input import check_cron, check_timezone
from runcast.store import schedules as store

logger = logging.getLogger("runcast")

NEXT_RUNS = 5


def schedule_trigger(workflow: Workflow) -> dict[str, Any] | None:
    trigger = workflow.trigger
    if isinstance(trigger, dict) and trigger.get("type") == TriggerType.SCHEDULE:
        return trigger
    return None


UNUSABLE = (CroniterError, ZoneInfoNotFoundError, ValueError, OverflowError)
"""What computing a stored cron's ticks raises when the trigger was stored before it was
checked as it is now: a cron croniter cannot read or whose date never comes, a time zone
zoneinfo does not know or cannot read."""


def next_runs(workflow: Workflow, now: datetime | None = None) -> tuple[datetime, ...] | None:
    """The next `NEXT_RUNS` ticks of a schedule workflow; empty while it is paused or
    INACTIVE, or when its stored trigger has no ticks to compute (see `UNUSABLE`), None
    for a workflow without a schedule."""
    trigger = schedule_trigger(workflow)
    if trigger is None:
        return None
    if trigger.get("paused") or workflow.status != WorkflowStatus.ACTIVE:
        return ()
    cron, timezone = trigger.get("cron"), trigger.get("timezone", "UTC")
    if not isinstance(cron, str) or not isinstance(timezone, str):
        return ()
    try:
        return tuple(islice(ticks_after(cron, timezone, now or utcnow()), NEXT_RUNS))
    except UNUSABLE:
        return ()


async def sync_schedule(workflow: Workflow, was_active: bool) -> None:
    """Keep the workflow's schedule row in step with its (saved) trigger. The next tick is
    the first after now when the schedule is new, its cron, time zone or pause changed, or
    the workflow was not ACTIVE: ticks from before are not made up."""
    trigger = schedule_trigger(workflow)
    existing = await store.get(workflow.id)
    if trigger is None:
        if existing is not None:
            await store.delete(workflow.id)
        return
    schedule = Schedule(
        workflow_id=workflow.id,
        cron=trigger["cron"],
        timezone=trigger.get("timezone", "UTC"),
        overlap=trigger.get("overlap", "skip"),
        catchup_window_seconds=trigger.get("catchupWindowSeconds", 60),
        paused=bool(trigger.get("paused", False)),
        next_tick_at=next_tick(trigger["cron"], trigger.get("timezone", "UTC"), utcnow()),
    )
    if (
        existing is not None
        and was_active
        and (existing.cron, existing.timezone, existing.paused)
        == (schedule.cron, schedule.timezone, schedule.paused)
    ):
        schedule.next_tick_at = existing.next_tick_at
        schedule.buffered_tick_at = existing.buffered_tick_at
    await store.save(schedule)


async def adopt_schedules() -> int:
    """Give a schedule row to each workflow with a valid schedule trigger that has none
    (saved before schedules existed), so it ticks from its next tick; answers how many.
    A trigger that is not a valid schedule is left alone (it ticks once saved valid)."""
    adopted = 0
    for workflow in await store.unscheduled():
        trigger = schedule_trigger(workflow)
        if trigger is None:
            continue
        try:
            check_cron(trigger.get("cron"))
            check_timezone(trigger.get("timezone", "UTC"))
            await sync_schedule(workflow, was_active=False)
        except IntegrityError:  # adopted by another node
            continue
        except (WorkflowInvalid, *UNUSABLE) as problem:
            logger.warning("workflow %s keeps no schedule: %s", workflow.id, problem)
            continue
        adopted += 1
    return adopted
