"""The CLI as a user runs it: migrate, token create, serve (first run and admin token)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.backends import POSTGRES_URL, require
from tests.conftest import free_port

RUNCAST = [sys.executable, "-m", "runcast.cli"]


def _env(database_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNCAST_")}
    return {**env, "RUNCAST_DATABASE_URL": database_url, **extra}


def test_migrate_creates_schema_on_empty_sqlite(tmp_path: Path):
    db = tmp_path / "fresh.db"
    result = subprocess.run(
        [*RUNCAST, "migrate"],
        env=_env(f"sqlite://{db}"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    import sqlite3

    with sqlite3.connect(db) as conn:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
    assert {
        "workspace",
        "app_user",
        "membership",
        "api_token",
        "workflow",
        "execution",
        "step_run",
        "execution_event",
        "task",
        "notification",
    } <= tables
    assert mode == "wal"
    again = subprocess.run(
        [*RUNCAST, "migrate"],
        env=_env(f"sqlite://{db}"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert again.returncode == 0


def test_migrate_creates_schema_on_empty_postgres():
    url = require("postgres", POSTGRES_URL)
    base, _, _ = url.rpartition("/")
    name = f"runcast_cli_{os.getpid()}"
    admin = f"{base}/postgres"
    subprocess.run(
        ["psql", admin, "-c", f"DROP DATABASE IF EXISTS {name}", "-c", f"CREATE DATABASE {name}"],
        check=True,
        capture_output=True,
    )
    try:
        result = subprocess.run(
            [*RUNCAST, "migrate"],
            env=_env(f"{base}/{name}"),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        tables = subprocess.run(
            [
                "psql",
                f"{base}/{name}",
                "-Atc",
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'",
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.split()
        assert {"workspace", "execution", "execution_event", "step_run"} <= set(tables)
    finally:
        subprocess.run(
            ["psql", admin, "-c", f"DROP DATABASE IF EXISTS {name}"], capture_output=True
        )


def test_token_create_prints_only_the_token(tmp_path: Path):
    env = _env(f"sqlite://{tmp_path / 'cli.db'}")
    result = subprocess.run(
        [
            *RUNCAST,
            "token",
            "create",
            "--user",
            "ci-bot",
            "--workspace",
            "team",
            "--role",
            "VIEWER",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip()
    assert token.startswith("rc_") and "\n" not in token
    bad = subprocess.run(
        [*RUNCAST, "token", "create", "--user", "x", "--role", "KING"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2


def _serve(env: dict[str, str], port: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*RUNCAST, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _wait_ready(port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    pytest.fail("server did not become healthy")


def _stop(process: subprocess.Popen[str]) -> str:
    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=20)
    return output


def test_serve_first_run_prints_a_working_token(tmp_path: Path):
    port = free_port()
    env = _env(f"sqlite://{tmp_path / 'serve.db'}")
    process = _serve(env, port)
    try:
        _wait_ready(port)
        base = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{base}/graphql", headers={"Accept": "text/html"}).status_code == 200
    finally:
        output = _stop(process)
    token_lines = [line for line in output.splitlines() if "admin token" in line]
    assert len(token_lines) == 1, output
    assert f"{base}/graphql" in output
    token = token_lines[0].split()[-1]

    process = _serve(env, port)
    try:
        _wait_ready(port)
        listing = httpx.get(
            f"{base}/api/workspaces/default/workflows", headers={"Authorization": f"Bearer {token}"}
        )
        assert listing.status_code == 200
        assert [w["name"] for w in listing.json()["workflows"]] == ["User Onboarding"]
    finally:
        second = _stop(process)
    assert "admin token" not in second


def test_admin_token_from_environment(tmp_path: Path):
    port = free_port()
    env = _env(f"sqlite://{tmp_path / 'admin.db'}", RUNCAST_ADMIN_TOKEN="my-admin-secret-123")
    process = _serve(env, port)
    try:
        _wait_ready(port)
        me = httpx.post(
            f"http://127.0.0.1:{port}/graphql",
            json={"query": "{ me { name memberships { workspaceSlug role } } }"},
            headers={"Authorization": "Bearer my-admin-secret-123"},
        )
        data = me.json()["data"]["me"]
        assert data["name"] == "admin"
        assert data["memberships"][0]["workspaceSlug"] == "default"
        assert data["memberships"][0]["role"] == "OWNER"
    finally:
        _stop(process)
