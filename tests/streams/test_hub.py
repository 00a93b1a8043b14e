"""The hub over broadcaster: bounded buffers, no leaks, and a watchdog that reconnects."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
import redis.asyncio as redis
from broadcaster import Broadcast

from runcast.errors import ConfigError
from runcast.events import hub as hub_module
from runcast.events.bus import execution_channel
from runcast.events.hub import Hub, Subscription
from runcast.ids import new_id
from tests.backends import REDIS_URL, require

BUFFER = 8


@pytest.fixture(params=["memory", "redis"])
def broadcast_url(request: pytest.FixtureRequest) -> str:
    if request.param == "memory":
        return "memory://"
    return require("redis", REDIS_URL)


@pytest.fixture
async def hub(broadcast_url: str) -> AsyncIterator[Hub]:
    hub = Hub(broadcast_url, buffer_size=BUFFER, watchdog_interval=0.05, probe_timeout=0.5)
    await hub.start()
    try:
        yield hub
    finally:
        await hub.stop()


async def eventually(condition: Callable[[], bool], within: float = 5.0) -> None:
    async with asyncio.timeout(within):
        while not condition():  # noqa: ASYNC110 - the hub exposes counters, not events
            await asyncio.sleep(0.01)


async def receive(subscription: Subscription, within: float = 5.0) -> str:
    message = await subscription.receive(within)
    assert message is not None, "nothing arrived"
    return message


async def test_readers_get_every_message_in_order(hub):
    channel = execution_channel(new_id("exec"))
    async with hub.subscribe(channel) as first, hub.subscribe(channel) as second:
        for n in range(5):
            await hub.broadcast.publish(channel, f"m{n}")
        assert [await receive(first) for _ in range(5)] == [f"m{n}" for n in range(5)]
        assert [await receive(second) for _ in range(5)] == [f"m{n}" for n in range(5)]
        assert hub.stats().channels == 1


async def test_a_reader_that_stops_reading_is_bounded_and_slows_nobody(hub):
    channel = execution_channel(new_id("exec"))
    async with hub.subscribe(channel) as stalled, hub.subscribe(channel) as reader:
        for n in range(100):
            await hub.broadcast.publish(channel, f"m{n}")
            assert await receive(reader) == f"m{n}"
        assert reader.take_missed() is False
        assert len(stalled) == BUFFER
        assert stalled.dropped == 100 - BUFFER
        assert stalled.take_missed() is True
        assert [stalled.receive_nowait() for _ in range(BUFFER)] == [f"m{n}" for n in range(BUFFER)]
        stats = hub.stats()
        assert stats.buffered == 0
        assert stats.dropped == 100 - BUFFER
        assert stats.broadcaster_queues == 1  # one per channel, however many readers


async def test_a_thousand_subscribe_cycles_leave_nothing_behind(hub):
    channels = [execution_channel(new_id("exec")) for _ in range(3)]
    tasks_before = len(asyncio.all_tasks())

    async def cycle(n: int) -> None:
        async with hub.subscribe(channels[n % 3]) as subscription:
            if n % 2:
                await hub.broadcast.publish(subscription.channel, "x")

    for start in range(0, 1000, 10):
        await asyncio.gather(*(cycle(n) for n in range(start, start + 10)))
    waiting = [asyncio.create_task(cycle(n)) for n in range(10)]
    await asyncio.sleep(0)
    for task in waiting:
        task.cancel()
    await asyncio.gather(*waiting, return_exceptions=True)

    stats = hub.stats()
    assert (stats.subscribers, stats.channels, stats.pumps, stats.broadcaster_queues) == (
        0,
        0,
        0,
        0,
    )
    assert stats.buffered == 0
    assert len(asyncio.all_tasks()) == tasks_before


async def kill_listener(hub: Hub) -> None:
    hub.broadcast._listener_task.cancel()


async def drop_redis_connection(hub: Hub) -> None:
    connection = hub.broadcast._backend._pubsub.connection
    host, port = connection._writer.get_extra_info("sockname")[:2]
    admin = redis.Redis.from_url(require("redis", REDIS_URL))
    try:
        assert await admin.client_kill_filter(_type=None, addr=f"{host}:{port}") == 1
    finally:
        await admin.aclose()


async def lose_subscriptions(hub: Hub) -> None:
    """The listener keeps running but hears nothing: only the probe can tell."""
    backend = hub.broadcast._backend
    if hasattr(backend, "_pubsub"):
        await backend._pubsub.unsubscribe()
    else:
        backend._subscribed.clear()


FAILURES: dict[str, Callable[[Hub], Awaitable[None]]] = {
    "listener killed": kill_listener,
    "connection dropped": drop_redis_connection,
    "subscriptions lost": lose_subscriptions,
}


@pytest.mark.parametrize("failure", FAILURES)
async def test_the_watchdog_reconnects_a_failed_broadcast(hub, broadcast_url, failure):
    if failure == "connection dropped" and not broadcast_url.startswith("redis"):
        pytest.skip("memory:// has no connection to drop")
    channel = execution_channel(new_id("exec"))
    async with hub.subscribe(channel) as subscription:
        await hub.broadcast.publish(channel, "before")
        assert await receive(subscription) == "before"
        await FAILURES[failure](hub)
        await eventually(lambda: hub.stats().reconnects == 1)
        assert subscription.take_missed() is True
        await hub.broadcast.publish(channel, "after")
        assert await receive(subscription) == "after"
        assert await hub.check() is True


async def test_start_refuses_a_broadcaster_other_than_the_pinned_one(broadcast_url, monkeypatch):
    monkeypatch.setattr(hub_module.metadata, "version", lambda name: "0.4.0")
    hub = Hub(broadcast_url)
    with pytest.raises(ConfigError, match=r"broadcaster 0\.3\.1 is required.*0\.4\.0 is installed"):
        await hub.start()


async def test_start_refuses_a_broadcaster_without_the_internals_it_relies_on(
    broadcast_url, monkeypatch
):
    hub = Hub(broadcast_url)
    monkeypatch.delattr(Broadcast, "_create_backend")
    with pytest.raises(ConfigError, match=r"lacks .*Broadcast\._create_backend"):
        await hub.start()
