"""SQLite's WAL checkpoints, moved off the write path.

By default SQLite checkpoints inside the commit that makes the WAL pass 1,000 pages, so
the engine's single connection now and then stalls on copying pages and syncing the file
while every step commit waits behind it. runcast turns that off on its connection
(`wal_autocheckpoint=0`) and checkpoints from here instead, on a connection of its own in
a worker thread, every `INTERVAL_S`. A PASSIVE checkpoint never waits for readers or
writers: writes go on appending to the WAL meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from dataclasses import dataclass

logger = logging.getLogger("runcast")

INTERVAL_S = 1.0


@dataclass(frozen=True)
class Checkpoint:
    """What one checkpoint did: frames in the WAL, frames copied into the database."""

    busy: bool
    wal_frames: int
    checkpointed_frames: int


class Checkpointer:
    """Checkpoints one SQLite database file in the background while started."""

    def __init__(self, path: str, interval_s: float = INTERVAL_S) -> None:
        self.path = path
        self.interval_s = interval_s
        self._connection: sqlite3.Connection | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._connection = await asyncio.to_thread(self._connect)
        self._task = asyncio.create_task(self._loop(), name="sqlite checkpoints")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._connection is not None:
            await self.run_once()  # leave the database file current
            self._connection.close()
            self._connection = None

    async def run_once(self) -> Checkpoint:
        assert self._connection is not None
        return await asyncio.to_thread(self._checkpoint, self._connection)

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        connection.execute("PRAGMA busy_timeout=10000")
        return connection

    @staticmethod
    def _checkpoint(connection: sqlite3.Connection) -> Checkpoint:
        busy, wal_frames, done = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        return Checkpoint(bool(busy), int(wal_frames), int(done))

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                await self.run_once()
            except Exception:
                logger.warning("checkpointing %s failed; retrying", self.path, exc_info=True)
