"""Webhooks and events on real `runcast serve` processes: one node on SQLite, three nodes
on Postgres + Redis. Concurrent deliveries and emissions spread over the nodes start
exactly one execution per key and per follower; a signed delivery runs on any node."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from runcast.resolvers.webhooks import signature
from tests.backends import POSTGRES_URL, REDIS_URL, require
from tests.scaleout.cluster import API, HEADERS, Cluster, create_database, drop_database
from tests.triggers.test_events import EVENTS

CHEAP = [{"type": "condition", "config": {"field": "trigger.n", "operator": "exists"}}]


@pytest.fixture(params=["sqlite", "postgres"])
async def nodes(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[list[str]]:
    """Base URLs of the running nodes: one on SQLite, three on Postgres + Redis."""
    if request.param == "sqlite":
        cluster = Cluster(f"sqlite://{tmp_path / 'runcast.db'}", "memory://", tmp_path)
        try:
            yield [(await cluster.start("solo")).url]
        finally:
            cluster.stop()
        return
    admin_url = require("postgres", POSTGRES_URL)
    redis_url = require("redis", REDIS_URL)
    name = f"runcast_triggers_{os.getpid()}"
    cluster = Cluster(create_database(admin_url, name), redis_url, tmp_path)
    try:
        first = await cluster.start("n1")  # migrates the database before the others start
        others = await asyncio.gather(cluster.start("n2"), cluster.start("n3"))
        yield [first.url, *(node.url for node in others)]
    finally:
        cluster.stop()
        drop_database(admin_url, name)


async def _workflow(url: str, trigger: dict[str, Any]) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=url, headers=HEADERS) as http:
        body = {"name": "triggered", "trigger": trigger, "actions": CHEAP}
        response = await http.post(f"{API}/workflows", json=body)
        assert response.status_code == 201, response.text
        return dict(response.json()["workflow"])


async def _total(url: str, workflow_id: str) -> int:
    async with httpx.AsyncClient(base_url=url, headers=HEADERS) as http:
        response = await http.get(f"{API}/workflows/{workflow_id}/executions?limit=1")
        return int(response.json()["pagination"]["total"])


async def test_deliveries_across_nodes(nodes):
    hook = await _workflow(nodes[0], {"type": "webhook", "secret": "k"})
    raw = json.dumps({"n": 1}).encode()
    signed = {"X-Runcast-Signature": signature("k", raw), "Content-Type": "application/json"}
    clients = [httpx.AsyncClient(base_url=url) for url in nodes]
    try:
        answers = await asyncio.gather(
            *(
                clients[i % len(clients)].post(
                    hook["webhookUrl"], content=raw, headers={**signed, "Idempotency-Key": "once"}
                )
                for i in range(12)
            )
        )
        assert {a.status_code for a in answers} == {202}
        assert len({a.json()["executionId"] for a in answers}) == 1
        unsigned = await clients[-1].post(hook["webhookUrl"], content=raw)
        assert unsigned.status_code == 401
        for client in clients:
            assert (
                await client.post(hook["webhookUrl"], content=raw, headers=signed)
            ).status_code == 202
    finally:
        for client in clients:
            await client.aclose()
    assert await _total(nodes[0], hook["id"]) == 1 + len(nodes)


async def test_events_across_nodes_start_each_follower_once(nodes):
    followers = [
        await _workflow(nodes[0], {"type": "event", "event": "order.created"}) for _ in range(3)
    ]
    limits = httpx.Limits(max_connections=30)
    clients = [
        httpx.AsyncClient(base_url=url, headers=HEADERS, limits=limits, timeout=120)
        for url in nodes
    ]

    async def emit(i: int, client: httpx.AsyncClient) -> list[str]:
        body = {"name": "order.created", "id": f"o-{i}", "data": {"n": i}}
        response = await client.post(f"{API}/events", json=body)
        assert response.status_code == 202, response.text
        return sorted(response.json()["executionIds"])

    try:
        # Every event twice at once, through different nodes where there are several.
        sends = [emit(i, clients[(i + r) % len(clients)]) for i in range(EVENTS) for r in (0, 1)]
        answers = await asyncio.gather(*sends)
    finally:
        for client in clients:
            await client.aclose()
    for i in range(EVENTS):
        first, second = answers[2 * i], answers[2 * i + 1]
        assert len(first) == 3
        assert first == second
    assert len({e for ids in answers for e in ids}) == 3 * EVENTS
    for workflow in followers:
        assert await _total(nodes[-1], workflow["id"]) == EVENTS
