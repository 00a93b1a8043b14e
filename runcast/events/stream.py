"""The streams both transports serve: an execution's events, and a workspace's status changes.

An execution stream subscribes before it reads the log, so an event committed in between
arrives live or in the replay (or both: seqs de-duplicate). Live events only make it fast;
the log decides. A live event that skips seqs, a full buffer, a reconnect, an undecodable
message or `poll_s` seconds of silence all make the stream read the log instead, so a lost
publish can delay an event by at most `poll_s` and never lose it.
"""

from __future__ import annotations

import asyncio
import functools
import json
import weakref
from collections import OrderedDict
from collections.abc import AsyncGenerator
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

from tortoise.expressions import Q

from runcast.domain.clock import utcnow
from runcast.domain.enums import ACTIVE_EXECUTION_STATUSES, FINAL_EXECUTION_STATUSES
from runcast.domain.events import Event, status_change
from runcast.events.bus import execution_channel, workspace_channel
from runcast.events.hub import Hub, Subscription
from runcast.models import Execution
from runcast.store.reads import events_after

POLL_S = 1.0
SHARED_READ_S = 0.5
RESYNC_LIMIT = 500
RESYNC_MARGIN = timedelta(seconds=10)  # a publish may trail its commit


async def execution_events(
    hub: Hub, execution_id: str, after: int = 0, *, poll_s: float = POLL_S
) -> AsyncGenerator[Event, None]:
    """Every event of the execution after seq `after`, exactly once and in seq order; ends
    after `complete` (or when the execution is deleted)."""
    async with hub.subscribe(execution_channel(execution_id)) as live:
        last = after
        batch: list[Event] | None = await _read_shared(execution_id, last)
        while batch is not None:
            for event in batch:
                if event.seq != last + 1:
                    continue
                yield event
                last = event.seq
                if event.type == "complete":
                    return
            batch = await _next_batch(live, execution_id, last, poll_s)


async def _next_batch(
    live: Subscription, execution_id: str, last: int, poll_s: float
) -> list[Event] | None:
    """The events after `last` that are known now, or None when no more can come."""
    message = await live.receive(poll_s)
    if live.take_missed() or message is None:
        return await _poll(execution_id, last)
    try:
        event = _shared_events.decoded(message)
    except (ValueError, KeyError, TypeError):
        return await _poll(execution_id, last)
    if event.seq <= last:
        return []
    if event.seq == last + 1:
        return [event]
    return await _shared_log_reads.after(execution_id, last, event.seq)


SHARED_EVENT_BYTES = 16 * 1024 * 1024
SHARED_EVENTS = 4096
K = TypeVar("K")
V = TypeVar("V")


class _Recent(Generic[K, V]):
    """An LRU bounded by its entries' total size as well as by their count."""

    def __init__(self) -> None:
        self.entries: OrderedDict[K, tuple[V, int]] = OrderedDict()
        self.size = 0

    def get(self, key: K) -> V | None:
        entry = self.entries.get(key)
        if entry is None:
            return None
        self.entries.move_to_end(key)
        return entry[0]

    def put(self, key: K, value: V, size: int) -> None:
        self.entries[key] = (value, size)
        self.size += size
        while self.size > SHARED_EVENT_BYTES or len(self.entries) > SHARED_EVENTS:
            _, (_, evicted) = self.entries.popitem(last=False)
            self.size -= evicted


class _SharedEvents:
    """One `Event` object per stored event (execution and seq) in this process, however
    the streams got it: decoded once from the broadcast message the hub hands every
    subscriber (the message string is the key, cheap to hash and compare), or read from
    the log by a stream that replays or fills a gap. Streams that reach the same event by
    different paths thus hold the same object, so what they derive from it is derived
    once (`is_shared_event`). Bounded by the events' total size, not only their count:
    subscribers of a busy server read an event many seconds apart (at 10,000
    subscribers, 430 events of 10 executions were read over minutes)."""

    def __init__(self) -> None:
        self.by_message: _Recent[str, Event] = _Recent()
        self.by_seq: _Recent[tuple[str, int], Event] = _Recent()

    def decoded(self, message: str) -> Event:
        event = self.by_message.get(message)
        if event is None:
            event = self.shared(Event.from_message(json.loads(message)), len(message))
            self.by_message.put(message, event, len(message))
        return event

    def shared(self, event: Event, size: int | None = None) -> Event:
        key = (event.execution_id, event.seq)
        known = self.by_seq.get(key)
        if known is not None:
            return known
        self.by_seq.put(key, event, len(event.data_json) if size is None else size)
        _shared[id(event)] = event
        return event


_shared_events = _SharedEvents()
_shared: weakref.WeakValueDictionary[int, Event] = weakref.WeakValueDictionary()


def is_shared_event(event: Event) -> bool:
    """Whether `event` is the object every stream of this process holds for its execution
    and seq (see `_SharedEvents`); anything derived from it alone may be shared, too."""
    return _shared.get(id(event)) is event


async def _read_shared(execution_id: str, after: int) -> list[Event]:
    return [_shared_events.shared(event) for event in await events_after(execution_id, after)]


class _SharedLogReads:
    """Gap fills of one execution from the same seq share one read of the log while it
    is at most `SHARED_READ_S` old and reaches the seq the caller knows exists: when
    deliveries lag (thousands of subscribers), many streams find the log ahead of their
    buffers at once, and each reading it for itself multiplies the lag."""

    def __init__(self) -> None:
        self.reads: dict[tuple[str, int], tuple[float, asyncio.Future[list[Event]]]] = {}
        self.pruned_at = 0.0

    async def after(self, execution_id: str, after: int, known: int) -> list[Event]:
        loop = asyncio.get_running_loop()
        now = loop.time()
        if now - self.pruned_at > SHARED_READ_S:
            self.reads = {k: v for k, v in self.reads.items() if now - v[0] <= SHARED_READ_S}
            self.pruned_at = now
        key = (execution_id, after)
        entry = self.reads.get(key)
        if entry is not None and entry[1].get_loop() is loop and now - entry[0] <= SHARED_READ_S:
            events = await asyncio.shield(entry[1])
            if events and events[-1].seq >= known:
                return events
        entry = (loop.time(), asyncio.ensure_future(_read_shared(execution_id, after)))
        self.reads[key] = entry
        return await asyncio.shield(entry[1])


_shared_log_reads = _SharedLogReads()


async def _poll(execution_id: str, last: int) -> list[Event] | None:
    state = await _shared_reads.state(execution_id)
    if state is None:
        return None
    last_seq, status = state
    if last_seq > last:
        return await _shared_log_reads.after(execution_id, last, last_seq)
    return None if status in FINAL_EXECUTION_STATUSES else []


_State = tuple[int, str] | None


class _SharedReads:
    """The execution's (last_seq, status), None once it is deleted. Every stream of one
    execution in this process shares one read, reused for `SHARED_READ_S`, so many idle
    streams on one execution cost one query per interval, not one each."""

    def __init__(self) -> None:
        self.reads: dict[str, tuple[float, asyncio.Future[_State]]] = {}
        self.pruned_at = 0.0

    async def state(self, execution_id: str) -> _State:
        loop = asyncio.get_running_loop()
        now = loop.time()
        if now - self.pruned_at > SHARED_READ_S:
            self.reads = {k: v for k, v in self.reads.items() if now - v[0] <= SHARED_READ_S}
            self.pruned_at = now
        entry = self.reads.get(execution_id)
        if entry is None or entry[1].get_loop() is not loop or now - entry[0] > SHARED_READ_S:
            entry = (now, asyncio.ensure_future(_read_state(execution_id)))
            self.reads[execution_id] = entry
        return await asyncio.shield(entry[1])


_shared_reads = _SharedReads()


async def _read_state(execution_id: str) -> _State:
    rows = await Execution.filter(id=execution_id).values_list("last_seq", "status")
    return (int(rows[0][0]), str(rows[0][1])) if rows else None


async def workspace_changes(hub: Hub, workspace_id: str) -> AsyncGenerator[dict[str, Any], None]:
    """Every status change of the workspace's executions, as `status_change` shapes them.

    Status changes have no log: after messages were missed (a full buffer, a reconnect) the
    stream drops what it still buffers and sends instead the current state of every
    execution that is unfinished or finished lately, so a dashboard converges on the truth.
    """
    async with hub.subscribe(workspace_channel(workspace_id)) as live:
        since = utcnow()
        while True:
            message = await live.receive(None)
            change = _decode(message)
            if live.take_missed() or (message is not None and change is None):
                live.clear()
                resynced_at = utcnow()
                for current in await _current_changes(workspace_id, since - RESYNC_MARGIN):
                    yield current
                since = resynced_at
            elif change is not None:
                since = utcnow()
                yield change


def _decode(message: str | None) -> dict[str, Any] | None:
    return None if message is None else _decoded_change(message)


@functools.lru_cache(maxsize=128)
def _decoded_change(message: str) -> dict[str, Any] | None:
    """One decode per published change, the same dict for every stream that receives it
    (so readers must not change it), like `_SharedEvents` for execution events."""
    try:
        change = json.loads(message)
    except ValueError:
        return None
    return change if isinstance(change, dict) else None


async def _current_changes(workspace_id: str, since: datetime) -> list[dict[str, Any]]:
    executions = (
        await Execution.filter(workspace_id=workspace_id)
        .filter(Q(status__in=ACTIVE_EXECUTION_STATUSES) | Q(completed_at__gte=since))
        .order_by("started_at")
        .limit(RESYNC_LIMIT)
    )
    return [status_change(execution) for execution in executions]
