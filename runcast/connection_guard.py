"""Connection-level defences uvicorn does not have: a header timeout and a per-address cap.

uvicorn closes a connection that stays idle `timeout_keep_alive` seconds *after a response*,
and `limit_concurrency` answers 503 once the whole server holds that many connections. Nothing
bounds how long a client may take to send a request's headers (a connection that sends half
a request line is held forever), and nothing stops one address from holding every slot.
Both have to be decided before the request reaches the ASGI app (headers that never complete
never become a request), so they live in a subclass of uvicorn's httptools protocol, passed
as `uvicorn.Config(http=...)`. It overrides only methods the protocol defines publicly:
asyncio's `connection_made`/`connection_lost`/`data_received`, httptools' `on_message_begin`
and `on_headers_complete` parser callbacks, and `handle_websocket_upgrade`, after which the
connection belongs to the websocket protocol, which releases its slot when it closes.

The same timer bounds the size of a request's headers: httptools itself accepts any amount
(uvicorn's `h11_max_incomplete_event_size` applies to its h11 protocol only), so a
connection whose headers pass `MAX_HEADER_BYTES` unfinished is closed too.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from runcast.errors import TooManyConnections

logger = logging.getLogger("runcast.connections")
MAX_HEADER_BYTES = 64 * 1024


class Slot:
    """One open connection counted against its address; `release` is idempotent."""

    def __init__(self, cap: AddressCap, address: str) -> None:
        self.cap = cap
        self.address = address
        self.released = False

    def release(self) -> None:
        if not self.released:
            self.released = True
            self.cap.release(self.address)


class AddressCap:
    """Counts open connections per client address and refuses those past `limit`
    (0 = unlimited). A refused address is logged once, until all its connections close."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.open: Counter[str] = Counter()
        self.warned: set[str] = set()

    def acquire(self, address: str) -> Slot | None:
        if self.limit and self.open[address] >= self.limit:
            if address not in self.warned:
                self.warned.add(address)
                logger.warning(
                    "refusing connections from %s: it already holds %d "
                    "(RUNCAST_MAX_CONNECTIONS_PER_ADDRESS)",
                    address,
                    self.limit,
                )
            return None
        self.open[address] += 1
        return Slot(self, address)

    def release(self, address: str) -> None:
        self.open[address] -= 1
        if self.open[address] <= 0:
            del self.open[address]
            self.warned.discard(address)


def _refusal(limit: int) -> bytes:
    error = TooManyConnections(f"This address already holds {limit} open connections")
    body = json.dumps(error.to_body()).encode()
    head = (
        f"HTTP/1.1 {error.http_status} Too Many Requests\r\n"
        "content-type: application/json\r\n"
        f"content-length: {len(body)}\r\n"
        "connection: close\r\n\r\n"
    )
    return head.encode() + body


class GuardedWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's websocket protocol, releasing the upgraded connection's slot on close."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.connection_slot: Slot | None = None

    def connection_lost(self, exc: Exception | None) -> None:
        if self.connection_slot is not None:
            self.connection_slot.release()
        super().connection_lost(exc)


class GuardedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a header timeout and a per-address cap.

    The header timer runs from the moment the connection opens, and from the first byte of
    each later request, until that request's headers are complete; when it fires, or when
    more than `MAX_HEADER_BYTES` arrive while it runs, the connection is closed. Idle time
    between requests is uvicorn's `timeout_keep_alive`.
    Use `guarded_protocol` to get a subclass bound to one server's settings.
    """

    header_timeout: float = 10.0
    address_cap: AddressCap = AddressCap(0)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.connection_slot: Slot | None = None
        self.header_timer: asyncio.TimerHandle | None = None
        self.header_bytes = 0
        self.refused = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]  # uvicorn's own signature
        super().connection_made(transport)
        if self.client is not None:
            self.connection_slot = self.address_cap.acquire(self.client[0])
            if self.connection_slot is None:
                self.refused = True
                transport.write(_refusal(self.address_cap.limit))
                transport.close()
                return
        self.arm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self.disarm_header_timer()
        if self.connection_slot is not None:
            self.connection_slot.release()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.refused:  # already answered; nothing it sends is served
            return
        if self.header_timer is not None:
            self.header_bytes += len(data)
        super().data_received(data)
        if self.header_timer is not None and self.header_bytes > MAX_HEADER_BYTES:
            self.disarm_header_timer()
            logger.debug("closing a connection from %s: headers too large", self.client)
            self.transport.close()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.arm_header_timer()

    def on_headers_complete(self) -> None:
        self.disarm_header_timer()
        self.header_bytes = 0
        super().on_headers_complete()

    def handle_websocket_upgrade(self) -> None:
        super().handle_websocket_upgrade()
        successor = self.transport.get_protocol()
        if isinstance(successor, GuardedWebSocketProtocol):
            successor.connection_slot, self.connection_slot = self.connection_slot, None
        elif self.connection_slot is not None:  # a websocket protocol that cannot release it
            self.connection_slot.release()

    def arm_header_timer(self) -> None:
        if self.header_timer is None and not self.transport.is_closing():
            loop = asyncio.get_running_loop()
            self.header_timer = loop.call_later(self.header_timeout, self.headers_timed_out)

    def disarm_header_timer(self) -> None:
        if self.header_timer is not None:
            self.header_timer.cancel()
            self.header_timer = None

    def headers_timed_out(self) -> None:
        self.header_timer = None
        logger.debug("closing a connection from %s: no complete headers in time", self.client)
        self.transport.close()


def guarded_protocol(header_timeout: float, max_per_address: int) -> type[GuardedHttpProtocol]:
    """A `GuardedHttpProtocol` subclass with these limits and its own connection counts."""
    return type(
        "GuardedHttpProtocol",
        (GuardedHttpProtocol,),
        {"header_timeout": header_timeout, "address_cap": AddressCap(max_per_address)},
    )
