"""Real objects for the fuzzers to aim at: workflows and executions in every state."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from tests.conftest import Tokens
from tests.helpers import WS, create_workflow, notify

LONG_WAIT_MS = 600_000
HOOK = {"type": "webhook"}


@dataclass(frozen=True)
class World:
    """Ids that exist, by what they are; `ids` lists them all."""

    tokens: Tokens
    workspace_refs: tuple[str, ...]
    workflow_ids: tuple[str, ...]
    execution_ids: tuple[str, ...]
    running_execution_ids: tuple[str, str]
    webhook: tuple[str, str] = ("", "")
    scheduled: str = ""
    """A workflow with a (daily) schedule trigger, for pause, resume and backfill."""
    """A webhook workflow's id (for rotation) and another webhook workflow's hook id."""

    @property
    def ids(self) -> tuple[str, ...]:
        return self.workflow_ids + self.execution_ids


async def _execute(
    client: httpx.AsyncClient, headers: dict[str, str], workflow_id: str, **body: Any
) -> dict[str, Any]:
    response = await client.post(
        f"{WS}/workflows/{workflow_id}/execute", json=body, headers=headers
    )
    assert response.status_code == 201, response.text
    return response.json()["execution"]  # type: ignore[no-any-return]


async def build_world(client: httpx.AsyncClient, tokens: Tokens) -> World:
    """Workflows active, inactive, long-running, deleted and in another workspace; executions
    completed, failed, running and in another workspace."""
    admin = tokens.headers("admin")
    active = await create_workflow(client, admin, notify())
    inactive = await create_workflow(client, admin, notify(), name="Paused", status="INACTIVE")
    long = await create_workflow(
        client, admin, {"type": "wait", "config": {"durationMs": LONG_WAIT_MS}}, name="Long"
    )
    refused = {"type": "call_api", "config": {"url": "http://127.0.0.1:9/", "method": "GET"}}
    failing = await create_workflow(client, admin, refused, name="Refused")
    deleted = await create_workflow(client, admin, notify(), name="Deleted")
    rotated = await create_workflow(client, admin, notify(), name="Rotated", trigger=HOOK)
    hooked = await create_workflow(client, admin, notify(), name="Hooked", trigger=HOOK)
    daily = {"type": "schedule", "cron": "0 0 * * *", "timezone": "UTC"}
    scheduled = await create_workflow(client, admin, notify(), name="Daily", trigger=daily)
    gone = await client.delete(f"{WS}/workflows/{deleted['id']}", headers=admin)
    assert gone.status_code == 200, gone.text
    done = await _execute(client, admin, active["id"], triggerData={"userId": "u1"}, wait=True)
    failed = await _execute(client, admin, failing["id"], wait=True)
    running = await _execute(client, admin, long["id"])
    also_running = await _execute(client, admin, long["id"])
    other_headers = tokens.headers("outsider")
    other = await client.post(
        "/api/workspaces/other/workflows",
        json={"name": "Theirs", "actions": [notify()]},
        headers=other_headers,
    )
    assert other.status_code == 201, other.text
    theirs = other.json()["workflow"]
    other_run = await client.post(
        f"/api/workspaces/other/workflows/{theirs['id']}/execute",
        json={"wait": True},
        headers=other_headers,
    )
    assert other_run.status_code == 201, other_run.text
    assert done["status"] == "COMPLETED" and failed["status"] == "FAILED", (done, failed)
    return World(
        tokens=tokens,
        workspace_refs=("acme", active["workspaceId"], "other", theirs["workspaceId"]),
        workflow_ids=(active["id"], inactive["id"], long["id"], deleted["id"], theirs["id"]),
        execution_ids=(
            done["id"],
            failed["id"],
            running["id"],
            also_running["id"],
            other_run.json()["execution"]["id"],
        ),
        running_execution_ids=(running["id"], also_running["id"]),
        webhook=(rotated["id"], hooked["webhookUrl"].rsplit("/", 1)[1]),
        scheduled=scheduled["id"],
    )


async def health_problem(base_url: str, world: World) -> str | None:
    """Why the server is not healthy after the fuzzing (health check, a REST and a GraphQL
    request), or None."""
    admin = world.tokens.headers("admin")
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as client:
        try:
            health = await client.get("/healthz")
            listing = await client.get("/api/workspaces/acme/workflows", headers=admin)
            me = await client.post("/graphql", json={"query": "{ me { id } }"}, headers=admin)
        except httpx.HTTPError as exc:
            return f"the server does not answer: {exc!r}"
    if health.status_code != 200 or health.json() != {"status": "ok"}:
        return f"/healthz answers {health.status_code} {health.text}"
    if listing.status_code != 200:
        return f"listing workflows answers {listing.status_code} {listing.text}"
    if me.status_code != 200 or "errors" in me.json():
        return f"GraphQL `me` answers {me.status_code} {me.text}"
    return None
