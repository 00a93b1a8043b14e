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
from collections.abc import Awaitable, Callable, Iterator, Sequence
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

BATCH = 2000
"""Schedules read per statement."""
MOST_BATCHES_PER_PASS = 25
STARTS_PER_WRITE = 500
"""Ticks whose executions are stored in one write."""
CONCURRENT_WRITES = 4
"""Writes of ticks under way at once (the executions of one are built as it begins)."""
CONCURRENT_STARTS = 500
"""Ticks started at once one by one, when their write together failed."""
MOST_TICKS_PER_PASS = 1000
"""Ticks of one schedule started in one pass (a long catch-up goes on in the next)."""
STOP_WAIT_S = 5.0
PASS_AFTER_S = 0.002
"""How long after a multiple of the poll interval a pass begins, so that a tick at that
instant is due by then."""
LEAST_WINDOW_S = 1
"""A tick this late still starts whatever the catch-up window: a pass comes up to a poll
interval after a tick, so a window of 0 means no catching up, not losing ticks."""

Tick = tuple[Workflow, datetime]
"""A workflow and one of its schedule's ticks."""
Starter = Callable[[Sequence[Tick]], Awaitable[object]]
"""Start the executions of these ticks in one write, each under its tick's own idempotency
key (made from its time), so that a tick already started starts nothing and stops none of
the others."""


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


@lru_cache(maxsize=4096)
def _following(expression: str, timezone: str, tick: datetime) -> datetime:
    """`next_tick`, kept: schedules that share a cron and a due tick (many at the top of an
    hour) share its next one."""
    return next_tick(expression, timezone, tick)


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
    first = tick
    ticks: Iterator[datetime] | None = None
    handled = 0
    while tick <= now and handled < MOST_TICKS_PER_PASS:
        if not busy or schedule.overlap == Overlap.ALLOW:
            start.append(tick)
            busy = True
        elif schedule.overlap == Overlap.BUFFER_ONE and buffered is None:
            buffered = tick
        if handled == 0:  # the usual case, one tick due: its next one is shared
            tick = _following(schedule.cron, schedule.timezone, first)
        else:
            if ticks is None:
                ticks = ticks_after(schedule.cron, schedule.timezone, first)
                next(ticks)  # the one `_following` found
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
        self.start_ticks = start
        self.poll_s = poll_s
        self.now = now
        self.adopt = adopt
        """Run once before the first pass: give rows to schedules saved before there were."""
        self._task: asyncio.Task[None] | None = None

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
            await asyncio.sleep(self._until_next_pass())

    def _until_next_pass(self) -> float:
        """Seconds to the next multiple of `poll_s` on the clock (just after it): ticks fall
        on whole seconds, so with a poll that divides a second a pass begins as a tick
        falls due instead of up to `poll_s` after it."""
        return self.poll_s - self.now().timestamp() % self.poll_s + PASS_AFTER_S

    async def tick(self) -> None:
        """One pass: buffered ticks first, then every schedule due now, a batch at a time:
        the batch's ticks started together (`STARTS_PER_WRITE` to a write), then its moves
        in one transaction. A schedule whose tick failed to start does not move: the tick
        stays due and is tried again in the next pass; the others go on."""
        await self._release_buffered()
        for _ in range(MOST_BATCHES_PER_PASS):
            now = self.now()
            due = await store.due(now, BATCH)
            if not due:
                return
            busy = await store.busy(
                [d.workflow.id for d in due if d.schedule.overlap != Overlap.ALLOW]
            )
            planned = _planned(due, now, busy)
            failed = await self._start_all(
                [(d.workflow, tick) for d, decided in planned for tick in decided.start]
            )
            moves = [
                store.Move(
                    d.schedule.workflow_id,
                    d.schedule.next_tick_at,
                    decided.next_tick_at,
                    d.schedule.buffered_tick_at,
                    decided.buffered_tick_at,
                )
                for d, decided in planned
                if d.workflow.id not in failed
            ]
            await store.move(moves)
            if len(due) < BATCH or not moves:
                return

    async def _start_all(self, ticks: Sequence[Tick]) -> set[str]:
        """Start `ticks`, `STARTS_PER_WRITE` to a write, up to `CONCURRENT_WRITES` writes at
        once (on SQLite they share a commit); answers the workflows of those that did not
        start. A write that fails is tried again one tick at a time, so that one tick that
        cannot start (e.g. its workflow deleted meanwhile) holds up no other."""
        slots = asyncio.Semaphore(CONCURRENT_WRITES)

        async def write(chunk: Sequence[Tick]) -> set[str]:
            async with slots:
                try:
                    await self.start_ticks(chunk)
                except Exception:
                    logger.exception("starting %d ticks in one write failed", len(chunk))
                    return await self._start_each(chunk)
                return set()

        chunks = [
            ticks[first : first + STARTS_PER_WRITE]
            for first in range(0, len(ticks), STARTS_PER_WRITE)
        ]
        return set().union(*await asyncio.gather(*map(write, chunks)))

    async def _start_each(self, ticks: Sequence[Tick]) -> set[str]:
        slots = asyncio.Semaphore(CONCURRENT_STARTS)

        async def one(tick: Tick) -> str | None:
            async with slots:
                try:
                    await self.start_ticks([tick])
                except Exception:
                    logger.exception("schedule of workflow %s failed", tick[0].id)
                    return tick[0].id
                return None

        return {found for found in await asyncio.gather(*map(one, ticks)) if found is not None}

    async def _release_buffered(self) -> None:
        """Start each buffered tick whose schedule has no execution under way any more."""
        waiting = await store.buffered(BATCH)
        busy = await store.busy([d.workflow.id for d in waiting])
        ready: list[Tick] = []
        for due in waiting:
            tick = due.schedule.buffered_tick_at
            if tick is not None and due.workflow.id not in busy:
                ready.append((due.workflow, tick))
        failed = await self._start_all(ready)
        for workflow, tick in ready:
            if workflow.id not in failed:
                await store.clear_buffer(workflow.id, tick)


def _planned(
    due: Sequence[store.Due], now: datetime, busy: set[str]
) -> list[tuple[store.Due, _Plan]]:
    """Each due schedule with what this pass does with it (a schedule whose plan fails is
    left out, and stays due)."""
    planned: list[tuple[store.Due, _Plan]] = []
    for d in due:
        try:
            planned.append((d, plan(d.schedule, now, d.workflow.id in busy)))
        except Exception:
            logger.exception("schedule of workflow %s failed", d.schedule.workflow_id)
    return planned
