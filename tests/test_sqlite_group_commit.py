"""SQLite's group commit waits off the event loop, without failing, while another connection
holds the write lock, and a failed guard undoes only its own transaction."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from pathlib import Path

from runcast.db import SQLITE_PRAGMAS
from runcast.store.sqlite import GroupCommit, Query, Statement

HOLD_S = 0.3


def _create(path: str) -> None:
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("CREATE TABLE t (n INTEGER PRIMARY KEY, note TEXT)")
    connection.execute("INSERT INTO t (n, note) VALUES (1, 'first')")
    connection.close()


def _hold_write_lock(path: str, taken: threading.Event) -> None:
    """Another connection (as the ORM's) takes the write lock and keeps it for HOLD_S."""
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO t (n, note) VALUES (2, 'other')")
    taken.set()
    time.sleep(HOLD_S)
    other.execute("COMMIT")
    other.close()


async def test_a_trip_behind_another_writer_waits_off_the_loop(tmp_path: Path) -> None:
    path = str(tmp_path / "db.sqlite")
    _create(path)
    store = GroupCommit(path, SQLITE_PRAGMAS)
    await store.open()
    taken = threading.Event()
    holder = threading.Thread(target=_hold_write_lock, args=(path, taken))
    holder.start()
    try:
        await asyncio.to_thread(taken.wait)
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.01)

        ticker = asyncio.create_task(tick())
        started = time.monotonic()
        read = await store.submit(Query("SELECT note FROM t ORDER BY n", []))
        read_s = time.monotonic() - started
        insert = Statement("INSERT INTO t (n, note) VALUES (?, ?)", [[3, "store"]])
        written = await store.submit([insert])
        waited_s = time.monotonic() - started
        ticker.cancel()
    finally:
        await asyncio.to_thread(holder.join)
        await store.close()
    assert read == [{"note": "first"}]  # a read does not wait for the writer
    assert read_s < HOLD_S / 2
    assert written is True
    assert waited_s >= HOLD_S / 2  # the write waited for the lock instead of failing
    assert ticks >= 5  # and the event loop ran meanwhile
    rows = sqlite3.connect(path).execute("SELECT n, note FROM t ORDER BY n").fetchall()
    assert rows == [(1, "first"), (2, "other"), (3, "store")]


async def test_a_failed_guard_rolls_back_its_own_transaction_only(tmp_path: Path) -> None:
    path = str(tmp_path / "db.sqlite")
    _create(path)
    store = GroupCommit(path, SQLITE_PRAGMAS)
    await store.open()
    try:
        guarded = [
            Statement("INSERT INTO t (n, note) VALUES (?, ?)", [[4, "undone"]]),
            Statement("UPDATE t SET note = ? WHERE n = ?", [["never", 99]], expect=1),
        ]
        kept = [Statement("INSERT INTO t (n, note) VALUES (?, ?)", [[5, "kept"]])]
        results = await asyncio.gather(store.submit(guarded), store.submit(kept))
    finally:
        await store.close()
    assert results == [False, True]
    rows = sqlite3.connect(path).execute("SELECT n, note FROM t ORDER BY n").fetchall()
    assert rows == [(1, "first"), (5, "kept")]
