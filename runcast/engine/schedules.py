"""Cron schedules: their ticks (croniter, in the schedule's time zone) and the tick loop
every node runs.

Exactly one execution per tick, on any number of nodes: each node's loop reads the
schedules due now and starts each due tick's execution under a key made of the tick's
time (the `Starter` makes it), which the unique (workflow, idempotency key) of executions
admits once; then it moves the schedule's next tick on with a write guarded on the tick
it read. Two nodes that handle the same tick both try; one execution is stored, one move
succeeds. A node that stops between the two leaves the tick due, and the next pass (here
or elsewhere) finds its execution already stored. No timer decides who runs a tick.

Ticks are instants (UTC); croniter finds them in the schedule's time zone, so daylight
saving time follows croniter's rule (see docs/triggers.md, "Schedules").
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterator
from copy import copy
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from croniter import croniter

from runcast.domain.clock import utcnow
from runcast.models import Schedule, Workflow
from runcast.store import schedules as store
from runcast.tasks import cancel_and_wait

logger = logging.getLogger("runcast")

BATCH = 500
"""Schedules read per statement."""
MOST_BATCHES_PER_PASS = 100
CONCURRENT_STARTS = 500
MOST_TICKS_PER_PASS = 1000
"""Ticks of one schedule started in one pass (a long catch-up goes on in the next)."""
STOP_WAIT_S = 5.0
LEAST_WINDOW_S = 1
"""A tick this late still starts whatever the catch-up window: a pass comes up to a poll
interval after a tick, so a window of 0 means no catching up, not losing ticks."""

Starter = Callable[[Workflow, datetime], Awaitable[object]]
"""Start the execution of the workflow's tick under the tick's own idempotency key (made
from its time), so that a tick already started starts nothing."""


class Overlap:
    """What a tick does while an execution started by the schedule is still under way."""

    SKIP = "skip"
    ALLOW = "allow"
    BUFFER_ONE = "buffer_one"


@lru_cache(maxsize=4096)
def _parsed(expression: str) -> croniter:
    """The expression parsed once (croniter's parse costs more than finding a tick)."""
    return croniter(expression)


def _cron(expression: str, start: datetime, timezone: str) -> croniter:
    """An iterator over the expression's ticks from `start`, in the time zone: a copy of
    the parsed expression (which it shares, unchanged) moved to `start`."""
    iterator = copy(_parsed(expression))
    iterator.set_current(start.astimezone(ZoneInfo(timezone)), force=True)
    return iterator


def ticks_after(expression: str, timezone: str, after: datetime) -> Iterator[datetime]:
    """The schedule's ticks strictly after `after`, in order, as UTC instants."""
    iterator = _cron(expression, after, timezone)
    while True:
        yield iterator.get_next(datetime).astimezone(UTC)


def next_tick(expression: str, timezone: str, after: datetime) -> datetime:
    return next(ticks_after(expression, timezone, after))


def first_tick_from(expression: str, timezone: str, start: datetime) -> datetime:
    """The first tick at or after `start` (ticks fall on whole seconds)."""
    return next_tick(expression, timezone, start - timedelta(microseconds=1))


@dataclass
class _Plan:
    """What one pass does with one due schedule."""

    start: list[datetime]
    next_tick_at: datetime
    buffered_tick_at: datetime | None


def plan(schedule: Schedule, now: datetime, busy: bool) -> _Plan:
    """The ticks of `schedule` due by `now` to start, and where its next and buffered tick
    move: ticks older than the catch-up window are passed over; under `skip` a tick while
    an execution is under way starts nothing, under `buffer_one` the first such tick is
    kept (the others pass) and starts when the execution ends, under `allow` all start."""
    window = max(schedule.catchup_window_seconds, LEAST_WINDOW_S)
    window_start = now - timedelta(seconds=window)
    tick = schedule.next_tick_at
    if tick < window_start:
        tick = first_tick_from(schedule.cron, schedule.timezone, window_start)
    buffered = schedule.buffered_tick_at
    start: list[datetime] = []
    ticks = ticks_after(schedule.cron, schedule.timezone, tick)
    handled = 0
    while tick <= now and handled < MOST_TICKS_PER_PASS:
        if not busy or schedule.overlap == Overlap.ALLOW:
            start.append(tick)
            busy = True
        elif schedule.overlap == Overlap.BUFFER_ONE and buffered is None:
            buffered = tick
        tick = next(ticks)
        handled += 1
    return _Plan(start, tick, buffered)


class ScheduleLoop:
    """The tick loop of one node: every `poll_s`, start the ticks due by `now()` and the
    buffered ticks whose wait is over."""

    def __init__(
        self,
        start: Starter,
        poll_s: float,
        now: Callable[[], datetime] = utcnow,
        adopt: Callable[[], Awaitable[object]] | None = None,
    ) -> None:
        self.start_tick = start
        self.poll_s = poll_s
        self.now = now
        self.adopt = adopt
        """Run once before the first pass: give rows to schedules saved before there were."""
        self._task: asyncio.Task[None] | None = None
        self._slots = asyncio.Semaphore(CONCURRENT_STARTS)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="schedule ticks")

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait([self._task], STOP_WAIT_S)
            self._task = None

    async def _loop(self) -> None:
        if self.adopt is not None:
            try:
                await self.adopt()
            except Exception:
                logger.exception("adopting earlier schedules failed")
        while True:
            try:
                await self.tick()
            except Exception:
                logger.exception("schedule pass failed")
            await asyncio.sleep(self.poll_s)

    async def tick(self) -> None:
        """One pass: buffered ticks first, then every schedule due now, a batch at a time
        (each batch's moves in one transaction)."""
        await self._release_buffered()
        for _ in range(MOST_BATCHES_PER_PASS):
            now = self.now()
            due = await store.due(now, BATCH)
            if not due:
                return
            busy = await store.busy(
                [d.workflow.id for d in due if d.schedule.overlap != Overlap.ALLOW]
            )
            handled = await asyncio.gather(
                *(self._handle(d, now, d.workflow.id in busy) for d in due)
            )
            moves = [move for move in handled if move is not None]
            await store.move(moves)
            if len(due) < BATCH or not moves:
                return

    async def _handle(self, due: store.Due, now: datetime, busy: bool) -> store.Move | None:
        """Start the schedule's due ticks; answers where it moves (None when it failed)."""
        schedule = due.schedule
        try:
            decided = plan(schedule, now, busy)
            await asyncio.gather(*(self._start(due.workflow, tick) for tick in decided.start))
        except Exception:  # the tick stays due and is tried again; the others go on
            logger.exception("schedule of workflow %s failed", schedule.workflow_id)
            return None
        return store.Move(
            schedule.workflow_id,
            schedule.next_tick_at,
            decided.next_tick_at,
            schedule.buffered_tick_at,
            decided.buffered_tick_at,
        )

    async def _start(self, workflow: Workflow, tick: datetime) -> None:
        async with self._slots:
            await self.start_tick(workflow, tick)

    async def _release_buffered(self) -> None:
        """Start each buffered tick whose schedule has no execution under way any more."""
        waiting = await store.buffered(BATCH)
        busy = await store.busy([d.workflow.id for d in waiting])
        for due in waiting:
            tick = due.schedule.buffered_tick_at
            if due.workflow.id in busy or tick is None:
                continue
            await self._start(due.workflow, tick)
            await store.clear_buffer(due.workflow.id, tick)
