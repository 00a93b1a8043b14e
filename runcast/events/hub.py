"""A subscriber hub over broadcaster: bounded buffers, a watchdog and leak counters.

broadcaster 0.3.1 gives every subscriber an unbounded queue, its listener task dies
silently when the backend connection drops, and its Redis backend never reconnects (its
listener can even stay parked after the first subscribe). The hub therefore holds one
broadcaster subscription per channel, drained at once by a pump task into small bounded
buffers, one per reader. A full buffer drops the message and marks its reader `missed`:
the reader re-reads the database instead of growing memory or slowing anybody else. A
watchdog checks the listener tasks and the round trip of a probe message, and replaces a
failed backend with a fresh connection; every reader is then marked `missed`, too.

broadcaster has no public way to watch or repair its connection, so the helpers at the end
of this module reach into its internals. That is safe only against the exact release they
were written for: pyproject.toml pins `broadcaster==0.3.1` and `Hub.start` refuses to run
(ConfigError) when another version is installed or an internal it uses is missing.

Channel names come from `runcast.events.bus`, built from ids the server holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from importlib import metadata
from urllib.parse import urlparse

from broadcaster import Broadcast

from runcast.errors import ConfigError
from runcast.tasks import cancel_and_wait

logger = logging.getLogger("runcast.events")

BUFFER_SIZE = 256
WATCHDOG_INTERVAL_S = 1.0
PROBE_TIMEOUT_S = 5.0
CLOSE_TIMEOUT_S = 2.0


class Subscription:
    """One reader's bounded buffer on one channel. An idle reader holds no buffer and no
    event object: the buffer is made by the first message, the reader's waiter only
    while it waits (thousands of idle subscribers each hold one of these)."""

    __slots__ = ("_limit", "_messages", "_waiter", "channel", "dropped", "missed")

    def __init__(self, channel: str, limit: int) -> None:
        self.channel = channel
        self.missed = False
        self.dropped = 0
        self._limit = limit
        self._messages: deque[str] | None = None
        self._waiter: asyncio.Future[None] | None = None

    def __len__(self) -> int:
        return len(self._messages) if self._messages is not None else 0

    def offer(self, message: str) -> None:
        """Buffer `message` without waiting; when the buffer is full, drop it and mark
        the reader `missed`."""
        messages = self._messages
        if messages is None:
            messages = self._messages = deque()
        if len(messages) < self._limit:
            messages.append(message)
        else:
            self.dropped += 1
            self.missed = True
        self._wake()

    def clear(self) -> None:
        """Drop what is buffered (the reader has read newer state elsewhere)."""
        self._messages = None

    def mark_missed(self) -> None:
        """Tell the reader that messages may have been lost (a reconnect, a failure)."""
        self.missed = True
        self._wake()

    def take_missed(self) -> bool:
        """Whether messages were lost since the last call."""
        missed, self.missed = self.missed, False
        return missed

    def receive_nowait(self) -> str | None:
        """The next buffered message, or None."""
        return self._messages.popleft() if self._messages else None

    async def receive(self, idle_s: float | None) -> str | None:
        """The next buffered message, or None when `idle_s` seconds pass without one or
        the reader is woken because messages were missed. One reader at a time."""
        if not self._messages and not self.missed:
            loop = asyncio.get_running_loop()
            waiter = self._waiter = loop.create_future()
            # a timer that wakes the waiter: cheaper than a timeout cancelling the task
            timer = loop.call_later(idle_s, self._wake) if idle_s is not None else None
            try:
                await waiter
            finally:
                self._waiter = None
                if timer is not None:
                    timer.cancel()
        return self.receive_nowait()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


@dataclass
class _Channel:
    name: str
    subscriptions: set[Subscription] = field(default_factory=set)
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    closed: bool = False
    pump: asyncio.Task[None] | None = None

    def deliver(self, message: str) -> None:
        for subscription in self.subscriptions:
            subscription.offer(message)

    def mark_missed(self) -> None:
        for subscription in self.subscriptions:
            subscription.mark_missed()


@dataclass(frozen=True)
class HubStats:
    """What the hub holds right now; tests compare it before and after to find leaks."""

    subscribers: int
    channels: int
    pumps: int
    broadcaster_queues: int
    buffered: int
    dropped: int
    reconnects: int


class Hub:
    """Owns the broadcast connection, its per-channel pumps and its watchdog."""

    def __init__(
        self,
        url: str,
        *,
        buffer_size: int = BUFFER_SIZE,
        watchdog_interval: float = WATCHDOG_INTERVAL_S,
        probe_timeout: float = PROBE_TIMEOUT_S,
    ) -> None:
        self.url = url
        self.broadcast = Broadcast(url)
        self.buffer_size = buffer_size
        self.watchdog_interval = watchdog_interval
        self.probe_timeout = probe_timeout
        self.reconnects = 0
        self.healthy = True
        self._dropped_before = 0
        self._channels: dict[str, _Channel] = {}
        self._closing: dict[str, asyncio.Task[None]] = {}
        self._watchdog: asyncio.Task[None] | None = None
        self._check_lock = asyncio.Lock()
        self._probe_channel = f"runcast:probe:{secrets.token_hex(8)}"
        self._probe: Subscription | None = None
        self._probe_token: str | None = None
        self._probe_sent_at = 0.0

    async def start(self) -> None:
        """Check broadcaster's internals, connect, subscribe the probe channel and start
        the watchdog."""
        check_broadcaster_version()
        await self.broadcast.connect()
        missing = missing_internals(self.broadcast, self.url)
        if missing:
            with contextlib.suppress(Exception):
                await self.broadcast.disconnect()
            raise ConfigError(
                f"broadcaster {BROADCASTER_VERSION} lacks what the event hub relies on: "
                + ", ".join(missing)
            )
        self._probe = await self._open(self._probe_channel)
        self._watchdog = asyncio.create_task(self._watch(), name="broadcast watchdog")

    async def stop(self) -> None:
        """Stop the watchdog and every pump, then close the connection."""
        if self._watchdog is not None:
            await cancel_and_wait([self._watchdog], CLOSE_TIMEOUT_S)
            self._watchdog = None
        pumps = [*self._closing.values()]
        for entry in self._channels.values():
            entry.closed = True
            if entry.pump is not None:
                pumps.append(entry.pump)
        await cancel_and_wait(pumps, CLOSE_TIMEOUT_S)
        self._channels.clear()
        self._probe = None
        await _close_backend(self.broadcast)

    @contextlib.asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[Subscription]:
        """A bounded subscription to `channel`, live once this returns, until the block exits."""
        subscription = await self._open(channel)
        try:
            yield subscription
        finally:
            pump = self._release(subscription)
            if pump is not None:
                # Let broadcaster unsubscribe before returning; if this wait is cancelled
                # the pump still finishes on its own.
                await asyncio.wait({pump}, timeout=CLOSE_TIMEOUT_S)

    def readers(self, channel: str) -> int:
        """How many subscriptions `channel` has."""
        entry = self._channels.get(channel)
        return len(entry.subscriptions) if entry is not None else 0

    def holds(self, channel: str) -> bool:
        """Whether anything of `channel` is left: readers, its pump, broadcaster's queue."""
        return (
            channel in self._channels
            or channel in self._closing
            or channel in _queues_per_channel(self.broadcast)
        )

    def stats(self) -> HubStats:
        """Counters over the readers' subscriptions (the watchdog's probe is left out)."""
        channels = [c for c in self._channels.values() if c.name != self._probe_channel]
        subscriptions = [s for c in channels for s in c.subscriptions]
        queues = _queues_per_channel(self.broadcast)
        queues.pop(self._probe_channel, None)
        return HubStats(
            subscribers=len(subscriptions),
            channels=len(channels),
            pumps=sum(1 for c in channels if c.pump and not c.pump.done()) + len(self._closing),
            broadcaster_queues=sum(queues.values()),
            buffered=sum(len(s) for s in subscriptions),
            dropped=self._dropped_before + sum(s.dropped for s in subscriptions),
            reconnects=self.reconnects,
        )

    async def check(self) -> bool:
        """One watchdog round: reconnect when a listener died or the last probe did not come
        back within `probe_timeout`, then send a new probe. Returns whether all was well."""
        async with self._check_lock:
            healthy = _listening(self.broadcast) and self._probe_answered()
            self.healthy = healthy
            if not healthy:
                await self._reconnect()
            if self._probe_token is None:
                await self._send_probe()
            return healthy

    async def _open(self, name: str) -> Subscription:
        entry = self._channels.get(name)
        previous = self._closing.get(name)
        if entry is None and previous is not None:
            # Let the last pump of this channel unsubscribe before a new one subscribes.
            await asyncio.wait({previous}, timeout=CLOSE_TIMEOUT_S)
            entry = self._channels.get(name)
        if entry is None:
            entry = self._channels[name] = _Channel(name)
            entry.pump = asyncio.create_task(self._pump(entry), name=f"hub pump {name}")
        subscription = Subscription(name, self.buffer_size)
        entry.subscriptions.add(subscription)
        try:  # past a probe's timeout the reader polls the log until the pump is ready
            async with asyncio.timeout(self.probe_timeout):
                await entry.ready.wait()
        except TimeoutError:
            logger.warning("subscribing to %s is slow; its reader polls meanwhile", name)
            subscription.mark_missed()
        except BaseException:
            pump = self._release(subscription)
            if pump is not None:
                await asyncio.wait({pump}, timeout=CLOSE_TIMEOUT_S)
            raise
        return subscription

    def _release(self, subscription: Subscription) -> asyncio.Task[None] | None:
        """Forget `subscription`; stop its channel's pump when it was the last reader."""
        entry = self._channels.get(subscription.channel)
        if entry is None or subscription not in entry.subscriptions:
            return None
        entry.subscriptions.discard(subscription)
        self._dropped_before += subscription.dropped
        if entry.subscriptions:
            return None
        del self._channels[entry.name]
        entry.closed = True
        pump = entry.pump
        if pump is None or pump.done():
            return None
        pump.cancel()
        self._closing[entry.name] = pump
        pump.add_done_callback(lambda task: self._forget_closed(entry.name, task))
        return pump

    def _forget_closed(self, name: str, task: asyncio.Task[None]) -> None:
        if self._closing.get(name) is task:
            del self._closing[name]

    async def _pump(self, entry: _Channel) -> None:
        """Move the channel's messages from broadcaster into its readers' buffers."""
        while not entry.closed:
            try:
                async with self.broadcast.subscribe(entry.name) as subscriber:
                    if entry.closed:  # redis-py may swallow a cancel while subscribing
                        return
                    _wake_redis_listener(self.broadcast)
                    entry.ready.set()
                    while True:
                        entry.deliver((await subscriber.get()).message)
            except Exception:
                if entry.closed:
                    return
                logger.warning("subscribing to %s failed; its readers poll", entry.name)
                entry.ready.set()
                entry.mark_missed()
                await asyncio.sleep(self.watchdog_interval)

    async def _watch(self) -> None:
        while True:
            try:
                await self.check()
            except Exception as exc:
                logger.warning("broadcast reconnect failed (%r); retrying", exc)
            await asyncio.sleep(self.watchdog_interval)

    def _probe_answered(self) -> bool:
        assert self._probe is not None
        while (message := self._probe.receive_nowait()) is not None:
            if message == self._probe_token:
                self._probe_token = None
        self._probe.take_missed()
        if self._probe_token is None:
            return True
        return asyncio.get_running_loop().time() - self._probe_sent_at < self.probe_timeout

    async def _send_probe(self) -> None:
        self._probe_token = secrets.token_hex(8)
        self._probe_sent_at = asyncio.get_running_loop().time()
        with contextlib.suppress(Exception):  # an unanswered probe triggers the reconnect
            await self.broadcast.publish(self._probe_channel, self._probe_token)

    async def _reconnect(self) -> None:
        """Replace the backend with a fresh connection and resubscribe every channel."""
        logger.warning("broadcast connection lost; reconnecting")
        await _close_backend(self.broadcast)
        _replace_backend(self.broadcast, self.url)
        try:
            await self.broadcast.connect()
            await _resubscribe(self.broadcast)
        except BaseException:
            await _close_backend(self.broadcast)
            raise
        self.reconnects += 1
        self._probe_token = None
        for entry in self._channels.values():
            entry.mark_missed()
        logger.warning("broadcast reconnected")


# broadcaster 0.3.1 (pinned in pyproject.toml) has no public way to watch or repair its
# connection; these helpers are the only places that touch its internals, and
# `check_broadcaster` makes sure at start-up that they are there.

BROADCASTER_VERSION = "0.3.1"
BROADCAST_INTERNALS = ("_backend", "_subscribers", "_create_backend", "_listener_task")
REDIS_BACKEND_INTERNALS = ("_ready", "_listener")


def check_broadcaster_version() -> None:
    """Refuse to start on a broadcaster other than the one the helpers below were written
    for."""
    installed = metadata.version("broadcaster")
    if installed != BROADCASTER_VERSION:
        raise ConfigError(
            f"broadcaster {BROADCASTER_VERSION} is required (the event hub relies on its "
            f"internals), but {installed} is installed"
        )


def missing_internals(broadcast: Broadcast, url: str) -> list[str]:
    """The internals the helpers below use that a connected `broadcast` lacks."""
    needed: list[tuple[object, tuple[str, ...]]] = [(broadcast, BROADCAST_INTERNALS)]
    if urlparse(url).scheme in ("redis", "rediss") and hasattr(broadcast, "_backend"):
        needed.append((broadcast._backend, REDIS_BACKEND_INTERNALS))
    return [
        f"{type(owner).__name__}.{name}"
        for owner, names in needed
        for name in names
        if not hasattr(owner, name)
    ]


def _listening(broadcast: Broadcast) -> bool:
    """Whether broadcaster's listener task, and its backend's if it has one, still run."""
    tasks = [broadcast._listener_task, getattr(broadcast._backend, "_listener", None)]
    return all(task is None or not task.done() for task in tasks)


def _queues_per_channel(broadcast: Broadcast) -> dict[str, int]:
    return {channel: len(queues) for channel, queues in broadcast._subscribers.items()}


def _wake_redis_listener(broadcast: Broadcast) -> None:
    """The Redis backend's listener parks itself when it looks before a subscription is
    recorded; waking it again once a channel is subscribed keeps it listening."""
    ready = getattr(broadcast._backend, "_ready", None)
    if isinstance(ready, asyncio.Event):
        ready.set()


def _replace_backend(broadcast: Broadcast, url: str) -> None:
    broadcast._backend = broadcast._create_backend(url)


async def _resubscribe(broadcast: Broadcast) -> None:
    for channel in list(broadcast._subscribers):
        await broadcast._backend.subscribe(channel)
    _wake_redis_listener(broadcast)


async def _close_backend(broadcast: Broadcast) -> None:
    """Stop the listener and close the backend, whatever state either is in."""
    backend = broadcast._backend
    listeners = [getattr(broadcast, "_listener_task", None), getattr(backend, "_listener", None)]
    with contextlib.suppress(Exception):
        async with asyncio.timeout(CLOSE_TIMEOUT_S):
            await backend.disconnect()
    await cancel_and_wait([t for t in listeners if isinstance(t, asyncio.Task)], CLOSE_TIMEOUT_S)
