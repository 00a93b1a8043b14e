"""The execute route's errors and idempotency."""

from __future__ import annotations

import asyncio

import pytest

from runcast.models import Execution
from tests.helpers import WS, create_workflow

NOTE = {"type": "send_notification", "config": {"message": "m"}}


async def test_execute_errors(client, tokens):
    workflow = await create_workflow(client, tokens.headers(), NOTE)
    url = f"{WS}/workflows/{workflow['id']}/execute"
    viewer = await client.post(url, json={}, headers=tokens.headers("viewer"))
    assert viewer.status_code == 403
    missing = await client.post(
        f"{WS}/workflows/wf_missing/execute", json={}, headers=tokens.headers("editor")
    )
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "WORKFLOW_NOT_FOUND"
    await client.patch(
        f"{WS}/workflows/{workflow['id']}", json={"status": "INACTIVE"}, headers=tokens.headers()
    )
    inactive = await client.post(url, json={}, headers=tokens.headers("editor"))
    assert inactive.status_code == 409
    assert inactive.json()["error"]["code"] == "WORKFLOW_INACTIVE"
    assert await Execution.all().count() == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"triggerData": "user_123"}, "triggerData"),
        ({"triggerData": [1]}, "triggerData"),
        ({"variables": 5}, "variables"),
        ({"dryRun": "yes"}, "dryRun"),
        ({"wait": 1}, "wait"),
        ({"trigger": {}}, "trigger"),
        ({"triggerData": {"blob": "x" * 300_000}}, "triggerData"),
    ],
)
async def test_bad_execute_bodies_are_400(client, tokens, body, field):
    workflow = await create_workflow(client, tokens.headers(), NOTE)
    response = await client.post(
        f"{WS}/workflows/{workflow['id']}/execute", json=body, headers=tokens.headers("editor")
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"
    assert field in response.json()["error"]["message"]
    assert await Execution.all().count() == 0


async def test_no_body_and_not_json(client, tokens):
    workflow = await create_workflow(client, tokens.headers(), NOTE)
    url = f"{WS}/workflows/{workflow['id']}/execute"
    empty = await client.post(url, headers=tokens.headers("editor"))
    assert empty.status_code == 201
    broken = await client.post(url, content=b"{", headers=tokens.headers("editor"))
    assert broken.status_code == 400


async def test_idempotency_key_returns_the_same_execution(client, tokens):
    workflow = await create_workflow(client, tokens.headers(), NOTE)
    url = f"{WS}/workflows/{workflow['id']}/execute"
    headers = {**tokens.headers("editor"), "Idempotency-Key": "order-42"}
    responses = await asyncio.gather(
        *(client.post(url, json={}, headers=headers) for _ in range(5))
    )
    ids = {r.json()["execution"]["id"] for r in responses}
    assert len(ids) == 1
    assert all(r.status_code == 201 for r in responses)
    other = await client.post(
        url, json={}, headers={**tokens.headers("editor"), "Idempotency-Key": "order-43"}
    )
    assert other.json()["execution"]["id"] not in ids
    assert await Execution.all().count() == 2


@pytest.mark.parametrize(
    "raw",
    [
        b'{"triggerData": {"n": 1e999}}',
        b'{"triggerData": {"n": NaN}}',
        b'{"variables": {"s": "\\ud800"}}',
        b'{"variables": {"s": "a\\u0000b"}}',
    ],
)
async def test_json_that_cannot_round_trip_is_400(client, tokens, raw):
    workflow = await create_workflow(client, tokens.headers(), NOTE)
    response = await client.post(
        f"{WS}/workflows/{workflow['id']}/execute",
        content=raw,
        headers={**tokens.headers("editor"), "Content-Type": "application/json"},
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"
    assert await Execution.all().count() == 0
    listing = await client.get(
        f"{WS}/workflows/{workflow['id']}/executions", headers=tokens.headers()
    )
    assert listing.status_code == 200
