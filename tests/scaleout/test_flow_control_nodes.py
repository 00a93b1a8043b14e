"""A workflow's concurrency cap holds across nodes: three nodes on one Postgres database
never run more than the limit per key at once."""

from __future__ import annotations

import asyncio
from collections import Counter

import httpx

from tests.scaleout.cluster import API, HEADERS
from tests.scaleout.test_nodes import rows, wait_all_final


async def test_three_nodes_keep_two_running_per_user(cluster):
    nodes = [await cluster.start(f"node-{n}") for n in "abc"]
    clients = [httpx.AsyncClient(base_url=n.url, headers=HEADERS, timeout=30) for n in nodes]
    most: Counter[str] = Counter()
    done = asyncio.Event()

    async def watch() -> None:
        while not done.is_set():
            running = await rows(
                cluster.database_url,
                "SELECT concurrency_key, count(*) AS n FROM execution"
                " WHERE status = 'RUNNING' GROUP BY concurrency_key",
            )
            for row in running:
                most[row["concurrency_key"]] = max(most[row["concurrency_key"]], row["n"])
            await asyncio.sleep(0.01)

    try:
        created = await clients[0].post(
            f"{API}/workflows",
            json={
                "name": "capped",
                "actions": [{"type": "wait", "config": {"durationMs": 200}}],
                "concurrency": {"limit": 2, "key": "{{trigger.user}}"},
            },
        )
        assert created.status_code == 201, created.text
        url = f"{API}/workflows/{created.json()['workflow']['id']}/execute"
        watcher = asyncio.create_task(watch())
        responses = await asyncio.gather(
            *(
                clients[i % 3].post(url, json={"triggerData": {"user": ("ada", "bob")[i % 2]}})
                for i in range(16)
            )
        )
        assert all(r.status_code == 201 for r in responses)
        ids = [r.json()["execution"]["id"] for r in responses]
        await wait_all_final(cluster.database_url, ids, 60)
        done.set()
        await watcher
    finally:
        for client in clients:
            await client.aclose()

    statuses = await rows(
        cluster.database_url, "SELECT status FROM execution WHERE id = ANY($1)", ids
    )
    assert Counter(r["status"] for r in statuses) == {"COMPLETED": 16}
    assert most == {"ada": 2, "bob": 2}
