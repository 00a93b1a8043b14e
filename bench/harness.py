"""Shared pieces of the benchmarks: a real server process, clients, percentiles, output."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "bench-admin-token"
HEADERS = {"Authorization": f"Bearer {TOKEN}"}
API = "/api/workspaces/default"


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    database_url: str

    def rss_mib(self) -> float:
        with open(f"/proc/{self.process.pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return float("nan")


def postgres_database(url: str, name: str) -> str:
    base = url.rpartition("/")[0]
    subprocess.run(
        [
            "psql",
            f"{base}/postgres",
            "-qc",
            f"DROP DATABASE IF EXISTS {name} WITH (FORCE)",
            "-c",
            f"CREATE DATABASE {name}",
        ],
        check=True,
        capture_output=True,
    )
    return f"{base}/{name}"


@contextmanager
def server(backend: str = "sqlite", **env: str) -> Iterator[Server]:
    """Start `runcast serve` on a fresh database, with the benchmark plugin loaded."""
    with tempfile.TemporaryDirectory() as tmp:
        if backend == "postgres":
            database_url = postgres_database(
                os.environ.get(
                    "RUNCAST_BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test"
                ),
                "runcast_bench",
            )
        else:
            database_url = f"sqlite://{tmp}/bench.db"
        port = free_port()
        environment = {k: v for k, v in os.environ.items() if not k.startswith("RUNCAST_")}
        environment.update(
            RUNCAST_DATABASE_URL=database_url,
            RUNCAST_ADMIN_TOKEN=TOKEN,
            RUNCAST_PORT=str(port),
            RUNCAST_PLUGINS="bench.plugin",
            PYTHONPATH=str(ROOT),
            **env,
        )
        log = open(Path(tmp) / "server.log", "wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "runcast.cli", "serve"],
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    if httpx.get(f"{url}/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.05)
            else:
                raise RuntimeError((Path(tmp) / "server.log").read_text()[-2000:])
            yield Server(url, process, database_url)
        finally:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
            log.close()


def create_workflow(url: str, actions: list[dict[str, Any]]) -> str:
    response = httpx.post(
        f"{url}{API}/workflows", headers=HEADERS, json={"name": "bench", "actions": actions}
    )
    response.raise_for_status()
    return str(response.json()["workflow"]["id"])


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1))
    return ordered[index]


def print_table(title: str, rows: list[tuple[str, Any]]) -> None:
    print(f"\n{title}")
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        shown = f"{value:,.2f}" if isinstance(value, float) else str(value)
        print(f"  {name.ljust(width)}  {shown}")


def write_json(path: str | None, data: dict[str, Any]) -> None:
    if path:
        Path(path).write_text(json.dumps(data, indent=2))
        print(f"\nwrote {path}")
