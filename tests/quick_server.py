"""A uvicorn server for tests that stops as soon as its connections have closed."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket

import uvicorn

TICK_S = 0.1
"""How often uvicorn's main loop runs its housekeeping (the Date header, request limits)."""
POLL_S = 0.005


class QuickServer(uvicorn.Server):
    """`uvicorn.Server` whose stop takes milliseconds instead of ~0.2 s: uvicorn notices
    `should_exit` at its next 100 ms tick, then sleeps 100 ms before it waits, in 100 ms
    steps, for the open connections to close. Here `stop()` wakes the main loop at once
    and the shutdown waits for the same things (connections closed, tasks done, within
    `timeout_graceful_shutdown`), checking every few milliseconds."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self._stop_requested = asyncio.Event()

    def stop(self) -> None:
        self.should_exit = True
        self._stop_requested.set()

    async def main_loop(self) -> None:
        counter = 0
        while not await self.on_tick(counter):
            counter = (counter + 1) % 864000
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(TICK_S):
                    await self._stop_requested.wait()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()
        for sock in sockets or []:
            sock.close()
        for connection in list(self.server_state.connections):
            connection.shutdown()
        try:
            async with asyncio.timeout(self.config.timeout_graceful_shutdown):
                while self.server_state.connections or self.server_state.tasks:  # noqa: ASYNC110 - uvicorn signals neither
                    await asyncio.sleep(POLL_S)
                for server in self.servers:
                    await server.wait_closed()
        except TimeoutError:
            logging.getLogger("uvicorn.error").error(
                "Cancel %s running task(s), timeout graceful shutdown exceeded",
                len(self.server_state.tasks),
            )
            for task in self.server_state.tasks:
                task.cancel(msg="Task cancelled, timeout graceful shutdown exceeded")
        if not self.force_exit:
            await self.lifespan.shutdown()
