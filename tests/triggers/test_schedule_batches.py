"""A pass's due ticks start in one write, on both configurations: a tick started already
(by another node, or a backfill) is left out and the others of its write start once; a
write that fails is tried again tick by tick, so that a tick that cannot start holds up
no other and stays due for the next pass; executions under a concurrency cap started
together still run within it."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from runcast.domain.enums import TriggerType
from runcast.engine.schedules import ScheduleLoop, Starter, Tick
from runcast.models import Execution, Schedule, StepRun, Workflow
from runcast.resolvers.executions import ExecuteRequest, new_execution
from runcast.resolvers.schedules import tick_starter
from runcast.store import statements
from runcast.store.executions import SqlExecutionStore
from tests.helpers import WS, create_workflow, notify

pytestmark = pytest.mark.settings(schedule_poll_seconds=3600.0)
"""The app's own loop makes one pass as it starts, before these tests store anything; the
tests make theirs."""

TICK = datetime(2026, 1, 1, tzinfo=UTC)
DAILY = {"type": "schedule", "cron": "0 0 * * *", "overlap": "allow"}


async def due_at_tick(client, tokens, count: int) -> list[Workflow]:
    """`count` daily schedules (overlap `allow`), each due at `TICK`."""
    workflows = []
    for n in range(count):
        created = await create_workflow(
            client, tokens.headers(), notify(f"tick {n}"), name=f"daily {n}", trigger=DAILY
        )
        await Schedule.filter(workflow_id=created["id"]).update(next_tick_at=TICK)
        workflows.append(await Workflow.get(id=created["id"]))
    return workflows


def loop(starter: Starter) -> ScheduleLoop:
    return ScheduleLoop(starter, 3600.0, now=lambda: TICK + timedelta(milliseconds=500))


async def ticks_started(workflow: Workflow) -> list[Any]:
    rows = await Execution.filter(workflow_id=workflow.id).values_list("trigger_data", flat=True)
    return sorted(data["scheduledAt"] for data in rows)


async def next_tick_of(workflow: Workflow) -> datetime:
    return (await Schedule.get(workflow_id=workflow.id)).next_tick_at


def keyed(workflow: Workflow, key: str) -> tuple[Execution, list[StepRun]]:
    request = ExecuteRequest({"n": key}, {}, False, False, None)
    execution, steps = new_execution(workflow, None, request, TriggerType.SCHEDULE)
    execution.idempotency_key = key
    return execution, steps


@pytest.mark.parametrize("bound", [None, 60], ids=["one statement", "statements of 2 rows"])
async def test_a_batch_insert_leaves_out_taken_keys_and_stores_the_rest_whole(
    client, tokens, monkeypatch, bound
):
    """With a small bound on the values a statement takes, Postgres inserts the batch in
    a transaction of several statements instead of one (SQLite's store is unbounded)."""
    if bound is not None:
        monkeypatch.setattr(statements, "_MOST_PARAMS", bound)
    workflow = await Workflow.get(
        id=(await create_workflow(client, tokens.headers(), notify(), notify()))["id"]
    )
    store = SqlExecutionStore()
    first = [keyed(workflow, "a"), keyed(workflow, "b")]
    assert await store.insert_many(first) == {first[0][0].id, first[1][0].id}

    again, new, twin = keyed(workflow, "a"), keyed(workflow, "c"), keyed(workflow, "c")
    assert await store.insert_many([again, new, twin]) == {new[0].id}

    stored = await Execution.filter(workflow_id=workflow.id).values_list(
        "idempotency_key", "id", "trigger_data"
    )
    assert sorted((key, data["n"]) for key, _, data in stored) == [
        ("a", "a"),
        ("b", "b"),
        ("c", "c"),
    ]
    assert {execution_id for _, execution_id, _ in stored} == {
        first[0][0].id,
        first[1][0].id,
        new[0].id,
    }
    for execution_id in (first[0][0].id, first[1][0].id, new[0].id):
        positions = await StepRun.filter(execution_id=execution_id).values_list(
            "position", flat=True
        )
        assert sorted(positions) == [0, 1]
    left_out = [again[0].id, twin[0].id]
    assert not await StepRun.filter(execution_id__in=left_out).exists()
    assert await store.insert_many([]) == set()


async def test_a_tick_started_already_is_left_out_and_the_others_start_once(app, client, tokens):
    workflows = await due_at_tick(client, tokens, 3)
    backfilled = await client.post(
        f"{WS}/workflows/{workflows[1].id}/backfill",
        json={"from": "2026-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"},
        headers=tokens.headers(),
    )
    assert (backfilled.json()["ticks"], backfilled.json()["started"]) == (1, 1)

    await loop(tick_starter(app.state.engine)).tick()

    for workflow in workflows:
        assert await ticks_started(workflow) == ["2026-01-01T00:00:00.000Z"]
        assert await next_tick_of(workflow) == TICK + timedelta(days=1)


async def test_a_tick_that_cannot_start_holds_up_no_other_and_stays_due(app, client, tokens):
    workflows = await due_at_tick(client, tokens, 3)
    broken = workflows[0]
    real = tick_starter(app.state.engine)
    writes: list[int] = []

    async def flaky(ticks: Sequence[Tick]) -> object:
        writes.append(len(ticks))
        if any(workflow.id == broken.id for workflow, _ in ticks):
            raise RuntimeError("this tick cannot be stored")
        return await real(ticks)

    await loop(flaky).tick()

    assert sorted(writes) == [1, 1, 1, 3]  # together, then one by one
    assert await ticks_started(broken) == []
    assert await next_tick_of(broken) == TICK
    for workflow in workflows[1:]:
        assert await ticks_started(workflow) == ["2026-01-01T00:00:00.000Z"]
        assert await next_tick_of(workflow) == TICK + timedelta(days=1)

    await loop(real).tick()

    for workflow in workflows:
        assert await ticks_started(workflow) == ["2026-01-01T00:00:00.000Z"]
        assert await next_tick_of(workflow) == TICK + timedelta(days=1)


async def test_capped_ticks_started_together_still_run_one_at_a_time(app, client, tokens):
    created = await create_workflow(
        client,
        tokens.headers(),
        {"type": "wait", "config": {"durationMs": 200}},
        trigger={
            "type": "schedule",
            "cron": "* * * * *",
            "overlap": "allow",
            "catchupWindowSeconds": 3600,
        },
        concurrency={"limit": 1},
    )
    await Schedule.filter(workflow_id=created["id"]).update(
        next_tick_at=TICK - timedelta(minutes=2)
    )
    most_running = 0

    await loop(tick_starter(app.state.engine)).tick()

    for _ in range(500):
        statuses = await Execution.filter(workflow_id=created["id"]).values_list(
            "status", flat=True
        )
        most_running = max(most_running, statuses.count("RUNNING"))
        if statuses and all(status == "COMPLETED" for status in statuses):
            break
        await asyncio.sleep(0.01)
    workflow = await Workflow.get(id=created["id"])
    assert await ticks_started(workflow) == [
        "2025-12-31T23:58:00.000Z",
        "2025-12-31T23:59:00.000Z",
        "2026-01-01T00:00:00.000Z",
    ]
    assert statuses == ["COMPLETED"] * 3
    assert most_running == 1
    assert await next_tick_of(workflow) == TICK + timedelta(minutes=1)
