"""A schedule's guarded writes, on both configurations: an update guarded on a column being
NULL (`statements.update` with a None condition) and the loop's moves built on it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from runcast.models import Schedule
from runcast.store import schedules as store
from runcast.store import statements
from tests.helpers import create_workflow

TICK = datetime(2026, 1, 1, tzinfo=UTC)


async def scheduled(client, tokens) -> str:
    """A paused schedule workflow's id, its row's next tick set to `TICK`."""
    trigger = {"type": "schedule", "cron": "* * * * *", "paused": True}
    workflow = await create_workflow(client, tokens.headers(), trigger=trigger)
    await Schedule.filter(workflow_id=workflow["id"]).update(next_tick_at=TICK)
    return str(workflow["id"])


async def test_an_update_guarded_on_null_changes_only_rows_holding_null(client, tokens):
    workflow_id = await scheduled(client, tokens)

    def guarded(overlap: str) -> statements.Statement:
        return statements.update(
            statements.dialect(),
            Schedule,
            {"overlap": overlap},
            {"workflow_id": workflow_id, "buffered_tick_at": None},
            expect=1,
        )

    assert await statements.run([guarded("allow")]) is True
    assert (await Schedule.get(workflow_id=workflow_id)).overlap == "allow"

    await Schedule.filter(workflow_id=workflow_id).update(buffered_tick_at=TICK)
    assert await statements.run([guarded("buffer_one")]) is False
    assert (await Schedule.get(workflow_id=workflow_id)).overlap == "allow"


async def test_a_move_read_without_a_buffered_tick_loses_to_one_that_buffered(client, tokens):
    workflow_id = await scheduled(client, tokens)
    later = TICK + timedelta(minutes=1)

    await Schedule.filter(workflow_id=workflow_id).update(buffered_tick_at=TICK)
    await store.move([store.Move(workflow_id, TICK, later, None, None)])
    row = await Schedule.get(workflow_id=workflow_id)
    assert (row.next_tick_at, row.buffered_tick_at) == (TICK, TICK)

    await store.move([store.Move(workflow_id, TICK, later, TICK, None)])
    row = await Schedule.get(workflow_id=workflow_id)
    assert (row.next_tick_at, row.buffered_tick_at) == (later, None)

    await store.move([store.Move(workflow_id, later, later + timedelta(minutes=1), None, later)])
    row = await Schedule.get(workflow_id=workflow_id)
    assert (row.next_tick_at, row.buffered_tick_at) == (later + timedelta(minutes=1), later)
