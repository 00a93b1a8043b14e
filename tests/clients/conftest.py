"""The Node GraphQL clients (Apollo Client, graphql-ws, subscriptions-transport-ws), installed
from the committed package-lock.json into tests/clients/node_modules once per session."""

from __future__ import annotations

import fcntl
import json
import shutil
import subprocess
from pathlib import Path
from typing import NoReturn

import pytest

from tests.backends import IN_CI
from tests.clients.support import CLIENTS_DIR, NodeClients

INSTALL_LIMIT_S = 300


def unavailable(reason: str) -> NoReturn:
    """Skip with `reason`, or fail under CI=true where the clients are required."""
    if IN_CI:
        pytest.fail(f"{reason} (the Node clients are required when CI=true)")
    pytest.skip(reason)


def installed_matches_lock(directory: Path) -> bool:
    """Whether node_modules holds exactly the packages of package-lock.json, by the record
    npm keeps of what it installed (node_modules/.package-lock.json)."""
    record = directory / "node_modules" / ".package-lock.json"
    if not record.exists():
        return False

    def versions(path: Path) -> dict[str, str | None]:
        packages = json.loads(path.read_text())["packages"]
        return {name: entry.get("version") for name, entry in packages.items() if name}

    return versions(directory / "package-lock.json") == versions(record)


def install(npm: str) -> None:
    """`npm ci` into tests/clients/node_modules, exactly as the lockfile pins."""
    command = [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"]
    try:
        done = subprocess.run(
            command,
            cwd=CLIENTS_DIR,
            capture_output=True,
            text=True,
            timeout=INSTALL_LIMIT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        unavailable(f"`npm ci` in {CLIENTS_DIR} took over {INSTALL_LIMIT_S} s")
    else:
        if done.returncode != 0:
            unavailable(f"`npm ci` in {CLIENTS_DIR} failed:\n{done.stderr[-2000:]}")


@pytest.fixture(scope="session")
def node_clients() -> NodeClients:
    """The clients, after `npm ci` when node_modules is missing or differs from the lockfile."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        unavailable("node and npm are needed for the client tests and are not on PATH")
    lockfile = CLIENTS_DIR / "package-lock.json"
    with lockfile.open() as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # another test session may be installing right now
        if not installed_matches_lock(CLIENTS_DIR):
            install(npm)
    return NodeClients(node)
