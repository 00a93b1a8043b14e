"""The one stream function under stress: lost publishes, full buffers, dropped backends, churn."""

from __future__ import annotations

import asyncio
from contextlib import aclosing
from typing import Any

import redis.asyncio as redis

from runcast.domain.enums import FINAL_EXECUTION_STATUSES
from runcast.domain.events import Event
from runcast.events import stream as stream_module
from runcast.events.bus import execution_channel
from runcast.events.hub import Hub
from runcast.events.stream import execution_events
from runcast.models import Execution
from runcast.store.reads import events_after
from tests.helpers import notify
from tests.streams.support import (
    collect,
    eventually,
    expected_events,
    log_of,
    sse_events,
    start_execution,
    status_of,
    wait,
)


async def finished(execution_id: str) -> None:
    async with asyncio.timeout(10):
        while (await Execution.get(id=execution_id)).status not in FINAL_EXECUTION_STATUSES:  # noqa: ASYNC110
            await asyncio.sleep(0.01)


async def read_all(hub: Hub, execution_id: str, **options: Any) -> list[Event]:
    async with (
        asyncio.timeout(10),
        aclosing(execution_events(hub, execution_id, **options)) as events,
    ):
        return [event async for event in events]


async def test_lost_publishes_are_filled_from_the_log(app, client, tokens, hub):
    bus = app.state.engine.bus
    publish = bus._publish

    async def lossy(channel: str, message: dict[str, Any]) -> None:
        if message.get("seq") not in (2, 3) and message.get("type") != "complete":
            await publish(channel, message)

    bus._publish = lossy
    execution = await start_execution(client, tokens.headers(), wait(200), notify(), notify())
    received = await read_all(hub, execution["id"], poll_s=0.2)

    assert received == await events_after(execution["id"], 0)
    assert [event.seq for event in received] == list(range(1, 8))
    assert received[-1].type == "complete"


async def test_a_reader_whose_buffer_overflowed_still_gets_every_event_once(client, tokens, hub):
    hub.buffer_size = 1
    execution = await start_execution(
        client, tokens.headers(), wait(200), notify(), notify(), notify(), notify()
    )
    async with aclosing(execution_events(hub, execution["id"])) as events:
        first = await anext(events)
        await finished(execution["id"])  # the reader stalls while eight more events arrive
        rest = [event async for event in events]

    assert hub.stats().dropped > 0
    assert [first, *rest] == await events_after(execution["id"], 0)
    assert [event.seq for event in [first, *rest]] == list(range(1, 12))


async def drop_broadcast(hub: Hub) -> None:
    """Kill the listener (memory://) or the Redis subscriber connection (redis://)."""
    backend = hub.broadcast._backend
    if not hasattr(backend, "_pubsub"):
        hub.broadcast._listener_task.cancel()
        return
    host, port = backend._pubsub.connection._writer.get_extra_info("sockname")[:2]
    admin = redis.Redis.from_url(hub.url)
    try:
        assert await admin.client_kill_filter(_type=None, addr=f"{host}:{port}") == 1
    finally:
        await admin.aclose()


async def test_a_dropped_broadcast_reconnects_and_a_connected_client_loses_nothing(
    client, tokens, live, hub
):
    execution = await start_execution(
        client, tokens.headers(), notify(), wait(400), wait(400), notify()
    )
    received = []
    async with aclosing(sse_events(live, tokens.viewer, execution["id"])) as events:
        async for event in events:
            received.append(event)
            if event.type == "progress" and event.seq == 2:
                await drop_broadcast(hub)

    await eventually(lambda: hub.stats().reconnects == 1)
    status = await status_of(client, tokens.viewer, execution["id"])
    assert log_of(received) == expected_events(status)
    after = await collect(sse_events(live, tokens.viewer, execution["id"], 8))
    assert [event.type for event in after] == ["connected", "complete"]


async def test_a_thousand_opened_and_abandoned_streams_leave_nothing_behind(client, tokens, hub):
    execution = await start_execution(client, tokens.headers(), notify(), wait(30_000))
    while len(await events_after(execution["id"], 0)) < 2:  # noqa: ASYNC110 - the first step is done
        await asyncio.sleep(0.01)
    channel = execution_channel(execution["id"])
    tasks_before = asyncio.all_tasks()

    for n in range(1000):
        events = execution_events(hub, execution["id"], after=0 if n % 2 else 2)
        if n % 2:  # read a replayed event, then close the stream
            async with aclosing(events):
                assert (await anext(events)).seq == 1
        else:  # wait for live events, then disconnect
            waiting = asyncio.create_task(anext(events))
            while hub.readers(channel) == 0:  # noqa: ASYNC110 - until it has subscribed
                await asyncio.sleep(0)
            waiting.cancel()
            await asyncio.gather(waiting, return_exceptions=True)
            await events.aclose()

    await eventually(lambda: not hub.holds(channel))
    # Tasks started since and still there (one under way then, such as SQLite's group
    # commit draining the first step's writes, may have ended since).
    assert asyncio.all_tasks() - tasks_before == set()


async def test_idle_streams_of_one_execution_share_their_state_reads(
    app, client, tokens, hub, monkeypatch
):
    reads: list[str] = []
    read_state = stream_module._read_state

    async def counted(execution_id: str) -> tuple[int, str] | None:
        reads.append(execution_id)
        return await read_state(execution_id)

    monkeypatch.setattr(stream_module, "_read_state", counted)
    execution = await start_execution(client, tokens.headers(), wait(1500), notify())
    readers = [asyncio.create_task(read_all(hub, execution["id"], poll_s=0.05)) for _ in range(50)]
    results = await asyncio.gather(*readers)

    expected = await events_after(execution["id"], 0)
    assert all(received == expected for received in results)
    # 50 streams idle for 1.5 s with a 50 ms poll would read 1,500 times on their own;
    # shared, one read per SHARED_READ_S (0.5 s) serves them all.
    assert 1 <= len(reads) <= 10
