"""Bounded concurrency: many executions at once, never more RUNNING than the limit."""

from __future__ import annotations

import asyncio

import pytest

from runcast.models import Execution
from tests.helpers import WS, create_workflow


@pytest.mark.settings(max_concurrent_executions=20)
async def test_200_executions_with_a_limit_of_20(client, tokens, app):
    workflow = await create_workflow(
        client,
        tokens.headers(),
        {"type": "send_notification", "config": {"message": "m"}},
        {"type": "wait", "config": {"durationMs": 30}},
        {"type": "create_task", "config": {"title": "t"}},
    )
    engine = app.state.engine
    most_running = 0
    done = asyncio.Event()

    async def watch() -> None:
        nonlocal most_running
        while not done.is_set():
            running = await Execution.filter(status="RUNNING").count()
            most_running = max(most_running, running, engine.running_count)
            await asyncio.sleep(0.005)

    watcher = asyncio.create_task(watch())
    url = f"{WS}/workflows/{workflow['id']}/execute"
    responses = await asyncio.gather(
        *(client.post(url, json={}, headers=tokens.headers("editor")) for _ in range(200))
    )
    assert all(r.status_code == 201 for r in responses)
    ids = [r.json()["execution"]["id"] for r in responses]
    for _ in range(600):
        if await Execution.filter(id__in=ids, status="COMPLETED").count() == 200:
            break
        await asyncio.sleep(0.05)
    done.set()
    await watcher
    statuses = await Execution.filter(id__in=ids).values_list("status", flat=True)
    assert statuses.count("COMPLETED") == 200, set(statuses)
    assert 1 < most_running <= 20
