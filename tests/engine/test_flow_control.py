"""A workflow's `concurrency {limit, key}`: never more RUNNING per key than the limit, the
rest waiting PENDING and starting in the order they were created."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass
from typing import Any

import httpx

from runcast.engine.flow_control import concurrency_slot
from runcast.models import Execution
from tests.helpers import WS, create_workflow


@dataclass
class Watched:
    ids: list[str]
    most: Counter[str]
    """The most RUNNING executions seen at once, per key."""
    began: dict[str, int]
    """The poll at which each execution was first seen RUNNING."""


async def run_and_watch(
    client: httpx.AsyncClient, headers: dict[str, str], workflow_id: str, users: list[str | None]
) -> Watched:
    """Execute once per entry of `users` (as `trigger.user`, in that order), watching the
    RUNNING executions per key until all are COMPLETED."""
    most: Counter[str] = Counter()
    began: dict[str, int] = {}
    done = asyncio.Event()

    async def watch() -> None:
        polls = 0
        while not done.is_set():
            polls += 1
            rows = await Execution.filter(workflow_id=workflow_id, status="RUNNING").values_list(
                "id", "concurrency_key"
            )
            for execution_id, _ in rows:
                began.setdefault(execution_id, polls)
            for key, count in Counter(str(key) for _, key in rows).items():
                most[key] = max(most[key], count)
            await asyncio.sleep(0.005)

    watcher = asyncio.create_task(watch())
    url = f"{WS}/workflows/{workflow_id}/execute"
    ids = []
    for user in users:
        body: dict[str, Any] = {"triggerData": {} if user is None else {"user": user}}
        response = await client.post(url, json=body, headers=headers)
        assert response.status_code == 201, response.text
        ids.append(response.json()["execution"]["id"])
    for _ in range(1000):
        statuses = await Execution.filter(id__in=ids).values_list("status", flat=True)
        if all(status == "COMPLETED" for status in statuses):
            break
        await asyncio.sleep(0.02)
    done.set()
    await watcher
    assert sorted(statuses) == ["COMPLETED"] * len(ids)
    assert set(began) == set(ids)  # each one was seen running
    return Watched(ids, most, began)


def started_in_order(watched: Watched, ids: list[str]) -> bool:
    """Whether `ids` began running in their order (those claimed together tie)."""
    polls = [watched.began[i] for i in ids]
    return polls == sorted(polls)


async def test_a_limit_of_two_per_user_caps_running_executions_per_key(client, tokens):
    workflow = await create_workflow(
        client,
        tokens.headers(),
        {"type": "wait", "config": {"durationMs": 150}},
        concurrency={"limit": 2, "key": "{{trigger.user}}"},
    )
    users = ["ada"] * 5 + ["bob"] * 3 + [None] * 3
    watched = await run_and_watch(client, tokens.headers("editor"), workflow["id"], users)

    # The cap held for every key, and was reached: executions did run side by side.
    assert watched.most == {"ada": 2, "bob": 2, "": 2}
    ids = watched.ids
    keys = dict(await Execution.filter(id__in=ids).values_list("id", "concurrency_key"))
    assert [keys[i] for i in ids] == ["ada"] * 5 + ["bob"] * 3 + [""] * 3
    # Within a key, executions start in the order they were created.
    for key in ("ada", "bob", ""):
        assert started_in_order(watched, [i for i in ids if keys[i] == key])


async def test_without_a_key_the_limit_caps_the_whole_workflow(client, tokens):
    workflow = await create_workflow(
        client,
        tokens.headers(),
        {"type": "wait", "config": {"durationMs": 100}},
        concurrency={"limit": 1},
    )
    watched = await run_and_watch(
        client, tokens.headers("editor"), workflow["id"], ["ada", "bob", None, "ada"]
    )
    assert watched.most == {"": 1}
    polls = [watched.began[i] for i in watched.ids]
    assert polls == sorted(set(polls))  # one after the other, in order


async def test_uncapped_workflows_are_not_held_behind_capped_ones(client, tokens):
    capped = await create_workflow(
        client,
        tokens.headers(),
        {"type": "wait", "config": {"durationMs": 400}},
        concurrency={"limit": 1},
    )
    free = await create_workflow(
        client, tokens.headers(), {"type": "wait", "config": {"durationMs": 0}}
    )
    editor = tokens.headers("editor")
    for _ in range(3):
        response = await client.post(
            f"{WS}/workflows/{capped['id']}/execute", json={}, headers=editor
        )
        assert response.status_code == 201
    answer = await client.post(
        f"{WS}/workflows/{free['id']}/execute", json={"wait": True}, headers=editor
    )
    assert answer.json()["execution"]["status"] == "COMPLETED"
    running = await Execution.filter(workflow_id=capped["id"], status="RUNNING").count()
    pending = await Execution.filter(workflow_id=capped["id"], status="PENDING").count()
    assert (running, pending) == (1, 2)


def test_keys_render_as_text_and_missing_values_share_one_bucket():
    setting = {"limit": 3, "key": "{{trigger.user}}"}
    assert concurrency_slot(setting, {"user": "ada"}, {}) == (3, "ada")
    assert concurrency_slot(setting, {"user": {"id": 7}}, {}) == (3, '{"id":7}')
    assert concurrency_slot(setting, {"user": 42}, {}) == (3, "42")
    assert concurrency_slot(setting, {}, {}) == (3, "")
    assert concurrency_slot(setting, {"user": "x" * 500}, {}) == (3, "x" * 200)
    assert concurrency_slot({"limit": 1}, {"user": "ada"}, {}) == (1, "")
    assert concurrency_slot(None, {"user": "ada"}, {}) == (None, None)
