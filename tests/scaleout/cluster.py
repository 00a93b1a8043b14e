"""Real `runcast serve` nodes sharing one Postgres database and one Redis."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.conftest import free_port

TOKEN = "cluster-admin-token"
HEADERS = {"Authorization": f"Bearer {TOKEN}"}
API = "/api/workspaces/default"


@dataclass
class Node:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def interrupt(self) -> None:
        """Ask a running node to shut down gracefully (once: a second SIGINT forces it)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)

    def wait_stopped(self, timeout_s: float = 15) -> None:
        try:
            self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()

    def stop(self) -> None:
        self.interrupt()
        self.wait_stopped()


@dataclass
class Cluster:
    database_url: str
    broadcast_url: str
    workdir: Path
    lease_seconds: int = 3
    nodes: list[Node] = field(default_factory=list)

    def env(self, name: str, port: int) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("RUNCAST_")}
        env.update(
            RUNCAST_DATABASE_URL=self.database_url,
            RUNCAST_BROADCAST_URL=self.broadcast_url,
            RUNCAST_ADMIN_TOKEN=TOKEN,
            RUNCAST_ALLOW_PRIVATE_NETWORK="true",
            RUNCAST_PORT=str(port),
            RUNCAST_NODE_ID=name,
            RUNCAST_LEASE_SECONDS=str(self.lease_seconds),
            RUNCAST_HEARTBEAT_SECONDS="1",
            RUNCAST_POLL_SECONDS="1",
        )
        return env

    async def start(self, name: str) -> Node:
        port = free_port()
        log = self.workdir / f"{name}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(  # noqa: ASYNC220 - Popen returns at once
                [sys.executable, "-m", "runcast.cli", "serve"],
                env=self.env(name, port),
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        node = Node(name, port, process, log)
        self.nodes.append(node)
        async with httpx.AsyncClient(base_url=node.url) as http:
            for _ in range(400):
                try:
                    if (await http.get("/healthz")).status_code == 200:
                        return node
                except httpx.TransportError:
                    pass
                if process.poll() is not None:
                    break
                await asyncio.sleep(0.05)
        raise AssertionError(f"node {name} did not start:\n{log.read_text()[-3000:]}")

    def stop(self) -> None:
        """Interrupt every node, then wait for each: they shut down side by side."""
        for node in self.nodes:
            node.interrupt()
        for node in self.nodes:
            node.wait_stopped()


def create_database(admin_url: str, name: str) -> str:
    base = admin_url.rpartition("/")[0]
    subprocess.run(
        [
            "psql",
            f"{base}/postgres",
            "-qc",
            f"DROP DATABASE IF EXISTS {name}",
            "-c",
            f"CREATE DATABASE {name}",
        ],
        check=True,
        capture_output=True,
    )
    return f"{base}/{name}"


def drop_database(admin_url: str, name: str) -> None:
    base = admin_url.rpartition("/")[0]
    subprocess.run(
        ["psql", f"{base}/postgres", "-qc", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"],
        capture_output=True,
    )
