"""Streams on any node: events of an execution running elsewhere, and Redis restarts."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import httpx

from tests.conftest import free_port
from tests.scaleout.cluster import API, HEADERS
from tests.scaleout.streams import follow, stored_events
from tests.scaleout.test_nodes import create_workflow

STEPS = [
    {"type": "send_notification", "config": {"message": "a"}},
    {"type": "wait", "config": {"durationMs": 300}},
    {"type": "create_task", "config": {"title": "t"}},
    {"type": "wait", "config": {"durationMs": 300}},
    {"type": "send_notification", "config": {"message": "b"}},
]


async def test_a_client_on_one_node_sees_an_execution_running_on_another(cluster):
    runner_node = await cluster.start("node-a")
    watcher = await cluster.start("node-b")
    async with httpx.AsyncClient(base_url=runner_node.url, headers=HEADERS) as http:
        workflow_id = await create_workflow(http, STEPS)
        started = await http.post(f"{API}/workflows/{workflow_id}/execute", json={})
    execution_id = started.json()["execution"]["id"]
    received = await follow([watcher.url], execution_id)
    assert received == await stored_events(cluster.database_url, execution_id)
    assert [seq for seq, _, _ in received] == list(range(1, 12))


class OwnRedis:
    """A redis-server of this test's own, so restarting it disturbs nobody else."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        self.process = subprocess.Popen(  # noqa: ASYNC220 - returns at once
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(100):
            probe = await asyncio.create_subprocess_exec(
                "redis-cli",
                "-p",
                str(self.port),
                "ping",
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            if await probe.wait() == 0:
                return
            await asyncio.sleep(0.05)
        raise AssertionError("redis did not start")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


async def test_redis_restart_loses_no_event_for_100_clients(cluster, tmp_path):
    redis = OwnRedis(tmp_path)
    await redis.start()
    cluster.broadcast_url = redis.url
    try:
        nodes = [await cluster.start("node-a"), await cluster.start("node-b")]
        urls = [n.url for n in nodes]
        async with httpx.AsyncClient(base_url=urls[0], headers=HEADERS, timeout=30) as http:
            workflow_id = await create_workflow(
                http, [*STEPS, {"type": "wait", "config": {"durationMs": 2000}}, *STEPS]
            )
            responses = await asyncio.gather(
                *(http.post(f"{API}/workflows/{workflow_id}/execute", json={}) for _ in range(20))
            )
        ids = [r.json()["execution"]["id"] for r in responses]
        clients = [
            asyncio.create_task(follow(urls[i % 2 :] + urls[: i % 2], ids[i % 20]))
            for i in range(100)
        ]
        await asyncio.sleep(1.0)
        redis.kill()
        await asyncio.sleep(2.0)
        await redis.start()
        results = await asyncio.gather(*clients)
    finally:
        redis.kill()
    for index, received in enumerate(results):
        expected = await stored_events(cluster.database_url, ids[index % 20])
        assert received == expected, f"client {index}"
        assert expected[-1][1] == "complete"
        assert expected[-1][2]["status"] == "COMPLETED"
