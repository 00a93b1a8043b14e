"""SQLite's WAL checkpoints run in the background, never inside a step's commit."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from runcast import statements
from runcast.checkpoints import Checkpointer
from tests.helpers import WS, create_workflow, notify


async def test_a_checkpoint_copies_the_wal_into_the_database(tmp_path: Path) -> None:
    path = str(tmp_path / "db.sqlite")
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("PRAGMA journal_mode=WAL")
    writer.execute("PRAGMA wal_autocheckpoint=0")
    writer.execute("CREATE TABLE t (n INTEGER, pad TEXT)")
    writer.executemany("INSERT INTO t VALUES (?, ?)", [(n, "x" * 500) for n in range(2000)])
    checkpointer = Checkpointer(path, interval_s=3600)
    await checkpointer.start()
    try:
        done = await checkpointer.run_once()
    finally:
        await checkpointer.stop()
    assert not done.busy
    assert done.wal_frames > 100
    assert done.checkpointed_frames == done.wal_frames
    writer.close()
    reader = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    assert reader.execute("SELECT count(*) FROM t").fetchone() == (2000,)


async def test_the_app_leaves_checkpoints_to_its_checkpointer_on_sqlite(
    app, client, tokens, backend
) -> None:
    checkpointer = app.state.checkpointer
    if backend != "sqlite":
        assert checkpointer is None
        return
    rows = await statements.fetch("PRAGMA wal_autocheckpoint", [])
    assert rows == [{"wal_autocheckpoint": 0}]
    workflow = await create_workflow(client, tokens.headers(), notify(), notify("Again"))
    for _ in range(5):
        response = await client.post(
            f"{WS}/workflows/{workflow['id']}/execute",
            json={"wait": True},
            headers=tokens.headers("editor"),
        )
        assert response.json()["execution"]["status"] == "COMPLETED"
    done = await checkpointer.run_once()
    assert done.wal_frames > 0  # the commits left their pages in the WAL for it
    assert done.checkpointed_frames == done.wal_frames
