"""Several nodes on Postgres + Redis: work spread, exactly-once steps, takeover after a crash."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest

from tests.receiver import Receiver, running_receiver
from tests.scaleout.cluster import API, HEADERS
from tests.scaleout.streams import follow, stored_events


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with running_receiver() as live:
        yield live


async def create_workflow(http: httpx.AsyncClient, actions: list[dict]) -> str:
    response = await http.post(
        f"{API}/workflows", json={"name": "w", "actions": actions}, headers=HEADERS
    )
    assert response.status_code == 201, response.text
    return str(response.json()["workflow"]["id"])


async def rows(database_url: str, query: str, *args: object) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(database_url)
    try:
        return await connection.fetch(query, *args)
    finally:
        await connection.close()


async def wait_all_final(database_url: str, ids: list[str], within_s: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while loop.time() < deadline:
        pending = await rows(
            database_url,
            "SELECT count(*) AS n FROM execution WHERE id = ANY($1)"
            " AND status IN ('PENDING', 'RUNNING')",
            ids,
        )
        if pending[0]["n"] == 0:
            return
        await asyncio.sleep(0.2)
    raise AssertionError("executions did not finish in time")


async def test_three_nodes_run_300_executions_exactly_once(cluster, receiver):
    # A lease far longer than the run: no takeover, so each call is made exactly once. (With
    # a short lease, a node starved of CPU may lose one; its step then runs again elsewhere
    # with the same idempotency key, and only one result is written.)
    cluster.lease_seconds = 30
    nodes = [await cluster.start(f"node-{n}") for n in "abc"]
    clients = [httpx.AsyncClient(base_url=n.url, headers=HEADERS, timeout=30) for n in nodes]
    try:
        workflow_id = await create_workflow(
            clients[0],
            [
                {"type": "send_notification", "config": {"message": "hi"}},
                {"type": "wait", "config": {"durationMs": 50}},
                {"type": "call_api", "config": {"url": f"{receiver.url}/hook"}},
                {"type": "create_task", "config": {"title": "t"}},
            ],
        )
        responses = await asyncio.gather(
            *(
                clients[i % 3].post(f"{API}/workflows/{workflow_id}/execute", json={})
                for i in range(300)
            )
        )
        assert all(r.status_code == 201 for r in responses)
        ids = [r.json()["execution"]["id"] for r in responses]
        await wait_all_final(cluster.database_url, ids, 60)
    finally:
        for client in clients:
            await client.aclose()

    executions = await rows(
        cluster.database_url, "SELECT id, status, lease_owner, last_seq FROM execution"
    )
    assert Counter(r["status"] for r in executions) == {"COMPLETED": 300}
    owners = Counter(r["lease_owner"] for r in executions)
    assert set(owners) == {"node-a", "node-b", "node-c"}, owners
    steps = await rows(cluster.database_url, "SELECT execution_id, status, attempts FROM step_run")
    assert len(steps) == 1200
    assert all(s["status"] == "success" and s["attempts"] == 1 for s in steps)
    events = await rows(
        cluster.database_url,
        "SELECT execution_id, array_agg(seq ORDER BY seq) AS seqs FROM "
        "execution_event GROUP BY execution_id",
    )
    assert len(events) == 300
    assert all(list(e["seqs"]) == list(range(1, 10)) for e in events)
    keys = Counter(r.headers["idempotency-key"] for r in receiver.to("/hook"))
    assert len(keys) == 300 and set(keys.values()) == {1}
    tasks = await rows(cluster.database_url, "SELECT count(*) AS n FROM task")
    assert tasks[0]["n"] == 300


async def test_killed_node_work_is_taken_over(cluster, receiver):
    victim = await cluster.start("node-a")
    async with httpx.AsyncClient(base_url=victim.url, headers=HEADERS, timeout=30) as http:
        workflow_id = await create_workflow(
            http,
            [
                {"type": "call_api", "config": {"url": f"{receiver.url}/before"}},
                {"type": "wait", "config": {"durationMs": 4000}},
                {"type": "call_api", "config": {"url": f"{receiver.url}/after"}},
            ],
        )
        responses = await asyncio.gather(
            *(http.post(f"{API}/workflows/{workflow_id}/execute", json={}) for _ in range(50))
        )
    ids = [r.json()["execution"]["id"] for r in responses]
    for _ in range(200):
        if len(receiver.to("/before")) == 50:
            break
        await asyncio.sleep(0.05)
    assert len(receiver.to("/before")) == 50
    survivors = [await cluster.start(name) for name in ("node-b", "node-c")]
    watched = asyncio.create_task(follow([victim.url, survivors[0].url], ids[0]))
    await asyncio.sleep(0.5)
    victim.kill()
    loop = asyncio.get_running_loop()
    killed_at = loop.time()
    await wait_all_final(cluster.database_url, ids, 20)
    # Lease (3 s) plus the wait's remaining time plus a few seconds.
    assert loop.time() - killed_at < 12
    executions = await rows(
        cluster.database_url, "SELECT status, lease_owner FROM execution WHERE id = ANY($1)", ids
    )
    assert Counter(r["status"] for r in executions) == {"COMPLETED": 50}
    assert {r["lease_owner"] for r in executions} <= {n.name for n in survivors}
    assert (
        Counter(r.headers["idempotency-key"] for r in receiver.to("/before")).most_common(1)[0][1]
        == 1
    )
    after = Counter(r.headers["idempotency-key"] for r in receiver.to("/after"))
    assert len(after) == 50 and set(after.values()) == {1}
    # The stream's client reconnected to another node with Last-Event-ID: each event once.
    assert await watched == await stored_events(cluster.database_url, ids[0])


async def test_cancel_through_another_node_is_immediate(cluster):
    runner_node = await cluster.start("node-a")
    other_node = await cluster.start("node-b")
    async with (
        httpx.AsyncClient(base_url=runner_node.url, headers=HEADERS, timeout=30) as a,
        httpx.AsyncClient(base_url=other_node.url, headers=HEADERS, timeout=30) as b,
    ):
        workflow_id = await create_workflow(a, [{"type": "wait", "config": {"durationMs": 30_000}}])
        started = await a.post(f"{API}/workflows/{workflow_id}/execute", json={})
        execution_id = started.json()["execution"]["id"]
        for _ in range(100):
            owner = await rows(
                cluster.database_url,
                "SELECT lease_owner, status FROM execution WHERE id = $1",
                execution_id,
            )
            if owner[0]["status"] == "RUNNING":
                break
            await asyncio.sleep(0.02)
        assert owner[0]["lease_owner"] == "node-a"
        loop = asyncio.get_running_loop()
        began = loop.time()
        response = await b.delete(f"{API}/workflows/executions/{execution_id}")
        elapsed = loop.time() - began
    assert response.status_code == 200
    assert response.json()["execution"]["status"] == "CANCELLED"
    assert elapsed < 1.0
