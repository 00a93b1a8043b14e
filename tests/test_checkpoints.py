"""SQLite's WAL checkpoints run in the background, never inside a step's commit, and keep
the WAL's size bounded while writes go on."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from runcast.app import create_app
from runcast.db import SQLITE_PRAGMAS
from runcast.settings import Settings
from runcast.store import statements
from runcast.store.checkpoints import RESET_BYTES, Checkpointer
from runcast.store.sqlite import GroupCommit, Statement
from tests.helpers import WS, create_workflow, notify

MIB = 1024 * 1024
ROW = "x" * 1000


def _database(path: str, size_limit: int = RESET_BYTES) -> sqlite3.Connection:
    """A writer configured as the app's: WAL, NORMAL sync, no checkpoints in commits, a
    10 s busy timeout, the WAL file cut back to the checkpointer's reset size."""
    writer = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    writer.execute("PRAGMA journal_mode=WAL")
    writer.execute("PRAGMA synchronous=NORMAL")
    writer.execute("PRAGMA wal_autocheckpoint=0")
    writer.execute("PRAGMA busy_timeout=10000")
    writer.execute(f"PRAGMA journal_size_limit={size_limit}")
    writer.execute("CREATE TABLE IF NOT EXISTS t (n INTEGER PRIMARY KEY, pad TEXT)")
    return writer


def _write(writer: sqlite3.Connection, rows: int) -> None:
    writer.execute("BEGIN IMMEDIATE")
    writer.executemany("INSERT INTO t (pad) VALUES (?)", [(ROW,)] * rows)
    writer.execute("COMMIT")


def _count(path: str) -> int:
    reader = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return int(reader.execute("SELECT count(*) FROM t").fetchone()[0])
    finally:
        reader.close()


async def test_a_checkpoint_copies_the_wal_into_the_database(tmp_path: Path) -> None:
    path = str(tmp_path / "db.sqlite")
    writer = _database(path)
    _write(writer, 2000)
    checkpointer = Checkpointer(path, interval_s=3600)
    await checkpointer.start()
    try:
        done = await checkpointer.run_once()
    finally:
        await checkpointer.stop()
    assert done.mode == "PASSIVE"  # the WAL is below the reset threshold
    assert not done.busy
    assert 0 < done.wal_bytes < RESET_BYTES
    assert done.wal_frames > 100
    assert done.checkpointed_frames == done.wal_frames
    assert checkpointer.resets == 0
    writer.close()
    assert _count(path) == 2000


async def test_past_the_threshold_a_checkpoint_restarts_the_wal(tmp_path: Path) -> None:
    path = str(tmp_path / "db.sqlite")
    writer = _database(path, size_limit=MIB)
    _write(writer, 3000)  # about 3 MiB of WAL
    checkpointer = Checkpointer(path, interval_s=3600, reset_bytes=MIB, size_limit=MIB)
    await checkpointer.start()
    try:
        before = checkpointer.wal_bytes()
        done = await checkpointer.run_once()
        assert checkpointer.last == done
        idle = await checkpointer.run_once()  # no commit since: nothing more to reset
        assert checkpointer.wal_bytes() == before
        _write(writer, 10)  # the next commit writes the WAL from its beginning
        assert checkpointer.wal_bytes() == MIB  # and cuts the file back to the limit
        again = await checkpointer.run_once()  # which is not past the threshold
    finally:
        await checkpointer.stop()
    assert before > MIB
    assert done.mode == "RESTART"
    assert not done.busy
    assert done.wal_bytes == before
    assert done.checkpointed_frames == done.wal_frames > 700  # all of it copied
    assert checkpointer.resets == 1
    assert (idle.mode, idle.wal_frames - idle.checkpointed_frames) == ("PASSIVE", 0)
    assert again.mode == "PASSIVE"
    assert 0 < again.wal_frames < 20  # only the last commit's pages are in the WAL
    writer.close()
    assert _count(path) == 3010


@pytest.mark.parametrize(("size_limit", "mode"), [(MIB, "RESTART"), (-1, "TRUNCATE")])
async def test_the_wal_stays_bounded_while_writes_go_on(
    tmp_path: Path, size_limit: int, mode: str
) -> None:
    """A writer that never pauses for long (as the app's does under load) commits 24 MiB of
    rows: without resets the WAL would hold all of it. Every write succeeds: the writer waits
    behind a reset through its busy timeout instead of failing with "database is locked".
    Writers that never cut the file back (no `journal_size_limit`) get resets that empty it."""
    path = str(tmp_path / "db.sqlite")
    writer = _database(path, size_limit=size_limit)
    total_rows = 24 * MIB // len(ROW)
    finished = threading.Event()

    def write_all() -> None:
        try:
            for _ in range(total_rows // 20):
                _write(writer, 20)
                time.sleep(0.0005)  # the app's hand-off between two trips
        finally:
            finished.set()

    checkpointer = Checkpointer(
        path, interval_s=3600, poll_s=0.01, reset_bytes=MIB, size_limit=size_limit
    )
    assert checkpointer.reset_mode == mode
    await checkpointer.start()
    peak = 0
    try:
        writing = asyncio.create_task(asyncio.to_thread(write_all))
        while not finished.is_set():
            peak = max(peak, checkpointer.wal_bytes())
            await asyncio.sleep(0.002)
        await writing
        after = await checkpointer.run_once()
    finally:
        await checkpointer.stop()
    assert checkpointer.resets >= 4
    assert peak < 3 * MIB
    assert not after.busy
    assert after.checkpointed_frames == after.wal_frames  # nothing left behind once writes stop
    writer.close()
    assert _count(path) == total_rows // 20 * 20


async def test_resets_between_the_stores_trips_never_make_a_commit_wait(tmp_path: Path) -> None:
    """The store's connection here has no busy timeout: a commit that met a reset holding
    the write lock would fail at once with "database is locked". Resets run between its
    trips, so while 24 MiB of rows are committed through it every commit succeeds and the
    WAL is reset again and again."""
    path = str(tmp_path / "db.sqlite")
    _database(path).close()
    pragmas = {**SQLITE_PRAGMAS, "busy_timeout": "0", "journal_size_limit": str(MIB)}
    store = GroupCommit(path, pragmas)
    await store.open()
    checkpointer = Checkpointer(
        path,
        interval_s=3600,
        poll_s=0.01,
        reset_bytes=MIB,
        resets_on=store.between_trips,
        size_limit=MIB,
    )
    await checkpointer.start()
    insert = "INSERT INTO t (pad) VALUES (?)"
    batches = 24 * MIB // len(ROW) // 20
    try:
        for _ in range(batches):
            assert await store.submit([Statement(insert, [[ROW]] * 20)]) is True
            await asyncio.sleep(0.0005)
    finally:
        await checkpointer.stop()
        await store.close()
    assert checkpointer.resets >= 4
    assert _count(path) == batches * 20


async def test_the_app_leaves_checkpoints_to_its_checkpointer_on_sqlite(
    app, client, tokens, backend
) -> None:
    checkpointer = app.state.checkpointer
    if backend != "sqlite":
        assert checkpointer is None
        return
    assert checkpointer.resets_on is not None  # resets run between the store's trips
    assert checkpointer.reset_mode == "RESTART"  # the file is cut back to the reset size
    rows = await statements.fetch("PRAGMA wal_autocheckpoint", [])
    assert rows == [{"wal_autocheckpoint": 0}]
    rows = await statements.fetch("PRAGMA journal_size_limit", [])
    assert rows == [{"journal_size_limit": RESET_BYTES}]
    workflow = await create_workflow(client, tokens.headers(), notify(), notify("Again"))
    for _ in range(5):
        response = await client.post(
            f"{WS}/workflows/{workflow['id']}/execute",
            json={"wait": True},
            headers=tokens.headers("editor"),
        )
        assert response.json()["execution"]["status"] == "COMPLETED"
    done = await checkpointer.run_once()
    assert done.mode == "PASSIVE"
    assert done.wal_frames > 0  # the commits left their pages in the WAL for it
    assert done.checkpointed_frames == done.wal_frames


@pytest.mark.parametrize(("limit", "mode"), [("-1", "TRUNCATE"), ("4194304", "RESTART")])
async def test_a_url_that_sets_its_own_size_limit_gets_the_resets_that_bound_it(
    tmp_path: Path, limit: str, mode: str
) -> None:
    """Without a `journal_size_limit` at or below the reset size nothing would cut the
    file back after a RESTART, so such a database gets TRUNCATE resets."""
    url = f"sqlite://{tmp_path / 'db.sqlite'}?journal_size_limit={limit}"
    app = create_app(Settings(database_url=url))
    async with app.router.lifespan_context(app):
        assert app.state.checkpointer.reset_mode == mode
