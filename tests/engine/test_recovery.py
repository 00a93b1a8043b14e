"""A server killed mid-execution finishes the run after a restart, repeating no finished step."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from tests.conftest import free_port
from tests.receiver import running_receiver

TOKEN = "recovery-admin-token"
HEADERS = {"Authorization": f"Bearer {TOKEN}"}


def serve(db: Path, port: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNCAST_")}
    env.update(
        RUNCAST_DATABASE_URL=f"sqlite://{db}",
        RUNCAST_ADMIN_TOKEN=TOKEN,
        RUNCAST_ALLOW_PRIVATE_NETWORK="true",
        RUNCAST_PORT=str(port),
    )
    return subprocess.Popen(
        [sys.executable, "-m", "runcast.cli", "serve"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def ready(http: httpx.AsyncClient) -> None:
    for _ in range(300):
        try:
            if (await http.get("/healthz")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.05)
    raise AssertionError("server did not start")


async def test_sigkill_mid_execution_then_restart_finishes_it(tmp_path: Path):
    db, port = tmp_path / "crash.db", free_port()
    async with (
        running_receiver() as receiver,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=HEADERS, timeout=10) as http,
    ):
        process = serve(db, port)
        try:
            await ready(http)
            api = "/api/workspaces/default"
            created = await http.post(
                f"{api}/workflows",
                json={
                    "name": "crash",
                    "actions": [
                        {"type": "call_api", "config": {"url": f"{receiver.url}/first"}},
                        {"type": "wait", "config": {"durationMs": 4000}},
                        {"type": "call_api", "config": {"url": f"{receiver.url}/second"}},
                    ],
                },
            )
            workflow_id = created.json()["workflow"]["id"]
            started = await http.post(f"{api}/workflows/{workflow_id}/execute", json={})
            execution_id = started.json()["execution"]["id"]
            status_url = f"{api}/workflows/executions/{execution_id}"
            for _ in range(200):
                steps = (await http.get(status_url)).json()["execution"]["steps"]
                if steps[1]["status"] == "running":
                    break
                await asyncio.sleep(0.02)
            assert steps[0]["status"] == "success"
            await asyncio.sleep(0.3)
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait()

        process = serve(db, port)
        try:
            await ready(http)
            for _ in range(300):
                body = (await http.get(status_url)).json()
                if body["execution"]["status"] != "RUNNING":
                    break
                await asyncio.sleep(0.05)
        finally:
            process.send_signal(signal.SIGINT)
            process.wait(timeout=20)

    execution = body["execution"]
    assert execution["status"] == "COMPLETED"
    assert [s["status"] for s in execution["steps"]] == ["success"] * 3
    assert len(receiver.to("/first")) == 1
    assert len(receiver.to("/second")) == 1
    wait_step = execution["steps"][1]
    # The wait kept its original start: it slept only what remained after the restart.
    assert 4000 <= wait_step["durationMs"] < 5500
