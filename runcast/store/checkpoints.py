"""SQLite's WAL checkpoints, moved off the write path, and a bound on the WAL's size.

By default SQLite checkpoints inside the commit that makes the WAL pass 1,000 pages, so
the engine's single connection now and then stalls on copying pages and syncing the file
while every step commit waits behind it. runcast turns that off on its connection
(`wal_autocheckpoint=0`) and checkpoints from here instead, on a connection of its own in
a worker thread.

The policy:

- Every `INTERVAL_S`, a PASSIVE checkpoint. It never waits for readers or writers, so
  writes go on appending to the WAL meanwhile. When the load pauses it catches up, and
  the next commit starts the WAL over from its beginning.
- Under sustained writes a PASSIVE checkpoint never catches up, and SQLite only rewinds
  a WAL that is wholly copied: the file grows without bound (about 110-150 KB per
  execution, by workflow).
  So every `POLL_S` the size of the `-wal` file is checked, and once it passes
  `RESET_BYTES` a PASSIVE checkpoint copies what is there without blocking anyone, then a
  RESTART checkpoint takes the write lock, copies the few frames committed meanwhile and
  waits for readers to leave the WAL, so that the next commit writes the WAL from its
  beginning again. That commit also cuts the file back to `journal_size_limit`, which is
  `RESET_BYTES` (`runcast/db.py`): the file passes `RESET_BYTES` again only once the WAL
  holds more than that. A RESTART leaves the file's blocks allocated, where TRUNCATE would
  empty it: freeing and allocating them again made a reset cost 10-20 ms on an ext4 disk
  against 3 ms (6-8 ms under full load). A database URL that sets a `journal_size_limit`
  above `RESET_BYTES`, or none (-1), gets TRUNCATE resets: nothing else would bound the
  file. Writers wait behind a reset through their busy timeout; this connection
  waits at most `RESET_WAIT_MS` for its turn and for readers, well below the app's 10 s,
  so an app write never fails with "database is locked" on its account (the app's
  transactions start as writes: `BEGIN IMMEDIATE` or a single statement, which wait; only a
  deferred transaction that reads before it writes fails at once behind any other writer).
  When the reset cannot get its turn it reports `busy` and the next poll tries again.
- Given the store's `between_trips` (the app passes it), the reset runs on the store's
  thread between two of its trips: the hot path's commits then wait only as long as the
  reset itself, instead of retrying through the busy timeout, whose sleeps (1, 2, 5,
  10 ms…) made a commit behind a reset of a few milliseconds wait 10-20 ms. Everything
  the store does (reads too) waits behind such a reset, so it waits for readers of other
  connections at most `RESET_WAIT_ON_STORE_MS` and otherwise reports `busy`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from runcast.db import WAL_RESET_BYTES

logger = logging.getLogger("runcast")

INTERVAL_S = 1.0
POLL_S = 0.1
RESET_BYTES = WAL_RESET_BYTES
RESET_WAIT_MS = 2000
RESET_WAIT_ON_STORE_MS = 100
"""How long a reset on the store's thread waits for readers: everything the store does
waits behind it meanwhile, so it gives up sooner and the next poll tries again."""

Mode = Literal["PASSIVE", "RESTART", "TRUNCATE"]
Serializer = Callable[[Callable[[], "Checkpoint"]], Awaitable["Checkpoint"]]
"""Runs a checkpoint somewhere and answers it (a worker thread, or the store's thread)."""


@dataclass(frozen=True)
class Checkpoint:
    """What one checkpoint did: its mode, the `-wal` file's size before it, and frames in
    the WAL and copied into the database as SQLite reports them (after a RESTART that
    succeeded they are equal, and the next commit starts the WAL over)."""

    mode: Mode
    busy: bool
    wal_bytes: int
    wal_frames: int
    checkpointed_frames: int


class Checkpointer:
    """Checkpoints one SQLite database file in the background while started."""

    def __init__(
        self,
        path: str,
        interval_s: float = INTERVAL_S,
        *,
        poll_s: float = POLL_S,
        reset_bytes: int = RESET_BYTES,
        resets_on: Serializer | None = None,
        size_limit: int = RESET_BYTES,
    ) -> None:
        self.path = path
        self.wal_path = f"{path}-wal"
        self.interval_s = interval_s
        self.poll_s = poll_s
        self.reset_bytes = reset_bytes
        self.resets_on = resets_on
        """Where a reset runs (the store's `between_trips`); a worker thread if None."""
        self.reset_mode: Mode = "RESTART" if 0 <= size_limit <= reset_bytes else "TRUNCATE"
        """RESTART while the writers' `journal_size_limit` (`size_limit`) cuts the file back
        to at most `reset_bytes` after a reset; otherwise (a URL that sets a larger limit,
        or none) nothing would, and TRUNCATE empties the file itself."""
        self.last: Checkpoint | None = None
        self.resets = 0
        self._connection: sqlite3.Connection | None = None
        self._task: asyncio.Task[None] | None = None
        self._reset_blocked = False
        self._bytes_after_reset = -1
        """The `-wal` file's size right after the last reset."""
        self._in_use = threading.Lock()  # a cancelled checkpoint's thread runs on

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

    def wal_bytes(self) -> int:
        """The size of the `-wal` file now; 0 when there is none."""
        try:
            return os.stat(self.wal_path).st_size
        except FileNotFoundError:
            return 0

    async def run_once(self) -> Checkpoint:
        """One checkpoint by the policy: PASSIVE, plus a reset past `reset_bytes`."""
        connection = self._connection
        assert connection is not None
        size = self.wal_bytes()
        done = await asyncio.to_thread(self._checkpoint, connection, "PASSIVE", size)
        if self._past_reset(size):
            resets_on = self.resets_on or asyncio.to_thread
            done = await resets_on(lambda: self._reset(connection, size))
        self.last = done
        if done.mode != "PASSIVE":
            self._note_reset(done)
        return done

    def _past_reset(self, wal_bytes: int) -> bool:
        """Whether the WAL holds more than `reset_bytes`: after a reset the next commit cuts
        the file back to `reset_bytes` (`journal_size_limit`) and writes it over from its
        beginning, so it grows past that only once the WAL holds more. Until that commit
        the file keeps the size the reset left, and the WAL is already done with."""
        return wal_bytes > self.reset_bytes and wal_bytes != self._bytes_after_reset

    def _reset(self, connection: sqlite3.Connection, size: int) -> Checkpoint:
        done = self._checkpoint(connection, self.reset_mode, size)
        if not done.busy:  # when busy nothing was reset: the same size is past it still
            self._bytes_after_reset = self.wal_bytes()
        return done

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        connection.execute(f"PRAGMA busy_timeout={self.reset_wait_ms()}")
        return connection

    def reset_wait_ms(self) -> int:
        """How long a reset waits for its turn and for readers."""
        return RESET_WAIT_MS if self.resets_on is None else RESET_WAIT_ON_STORE_MS

    def _checkpoint(self, connection: sqlite3.Connection, mode: Mode, size: int) -> Checkpoint:
        with self._in_use:
            return _pragma(connection, mode, size)

    def _note_reset(self, done: Checkpoint) -> None:
        if not done.busy:
            self.resets += 1
            self._reset_blocked = False
        elif not self._reset_blocked:
            self._reset_blocked = True
            logger.warning(
                "the WAL of %s is %d bytes and could not be reset (another connection kept "
                "it busy for %d ms); retrying",
                self.path,
                done.wal_bytes,
                self.reset_wait_ms(),
            )

    async def _loop(self) -> None:
        passive_at = time.monotonic()
        while True:
            await asyncio.sleep(self.poll_s)
            now = time.monotonic()
            if now - passive_at < self.interval_s and not self._past_reset(self.wal_bytes()):
                continue
            passive_at = now
            try:
                await self.run_once()
            except Exception:
                logger.warning("checkpointing %s failed; retrying", self.path, exc_info=True)


def _pragma(connection: sqlite3.Connection, mode: Mode, wal_bytes: int) -> Checkpoint:
    busy, wal_frames, done = connection.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
    return Checkpoint(mode, bool(busy), wal_bytes, int(wal_frames), int(done))
