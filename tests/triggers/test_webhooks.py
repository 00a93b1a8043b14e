"""Webhooks over real HTTP (uvicorn): signatures, idempotency, sync answers, the body cap,
inactive and unknown hooks, rotation and the listing's triggerType filter."""

from __future__ import annotations

import asyncio
import json

import httpx

from runcast.models import Execution
from runcast.resolvers.executions import MAX_INPUT_BYTES
from runcast.resolvers.webhooks import signature
from tests.helpers import WS, notify
from tests.triggers.helpers import executions_of, make_workflow

SECRET = "hook-secret-1"


async def _until_finished(client: httpx.AsyncClient, headers: dict[str, str], execution_id: str):
    for _ in range(200):
        response = await client.get(f"{WS}/workflows/executions/{execution_id}", headers=headers)
        body = response.json()["execution"]
        if body["status"] in ("COMPLETED", "FAILED", "CANCELLED"):
            return body
        await asyncio.sleep(0.05)
    raise AssertionError(f"execution {execution_id} did not finish")


async def test_a_signed_webhook_runs_with_its_trigger_data(live, tokens):
    headers = tokens.headers()
    async with httpx.AsyncClient(base_url=live) as client:
        hook = await make_workflow(client, headers, {"type": "webhook", "secret": SECRET})
        raw = json.dumps({"n": 1, "user": "u1"}).encode()
        response = await client.post(
            hook["webhookUrl"] + "?source=shop",
            content=raw,
            headers={
                "Content-Type": "application/json",
                "X-Runcast-Signature": signature(SECRET, raw),
                "Authorization": "Bearer not-for-the-workflow",
                "Cookie": "session=secret",
                "X-Shop": "one",
            },
        )
        assert response.status_code == 202, response.text
        execution_id = response.json()["executionId"]
        state = await _until_finished(client, headers, execution_id)
        assert state["status"] == "COMPLETED"
        assert state["triggerType"] == "webhook"
        data = state["triggerData"]
        assert data["body"] == {"n": 1, "user": "u1"}
        assert data["query"] == {"source": "shop"}
        assert data["headers"]["x-shop"] == "one"
        assert "authorization" not in data["headers"]
        assert "cookie" not in data["headers"]
        listed = await client.get(
            f"{WS}/executions", params={"triggerType": "webhook"}, headers=headers
        )
        assert [e["id"] for e in listed.json()["executions"]] == [execution_id]
        manual = await client.get(
            f"{WS}/executions", params={"triggerType": "manual"}, headers=headers
        )
        assert manual.json()["executions"] == []


async def test_a_wrong_or_missing_signature_is_401_and_starts_nothing(live, tokens):
    headers = tokens.headers()
    async with httpx.AsyncClient(base_url=live) as client:
        hook = await make_workflow(client, headers, {"type": "webhook", "secret": SECRET})
        raw = b'{"n": 1}'
        for extra in (
            {},
            {"X-Runcast-Signature": signature("other-secret", raw)},
            {"X-Runcast-Signature": signature(SECRET, raw + b" ")},
            {"X-Runcast-Signature": "sha256=zz"},
            {"X-Runcast-Signature": "\u00e9t\u00e9".encode("latin-1")},
        ):
            response = await client.post(hook["webhookUrl"], content=raw, headers=extra)
            assert response.status_code == 401, (extra, response.text)
            assert response.json()["error"]["code"] == "UNAUTHORIZED"
    assert await Execution.all().count() == 0


async def test_a_repeated_idempotency_key_starts_one_execution(live, tokens):
    headers = tokens.headers()
    async with httpx.AsyncClient(base_url=live) as client:
        hook = await make_workflow(client, headers, {"type": "webhook"})
        send = [
            client.post(hook["webhookUrl"], json={"n": 1}, headers={"Idempotency-Key": "d-1"})
            for _ in range(10)
        ]
        answers = await asyncio.gather(*send)
        assert {a.status_code for a in answers} == {202}
        assert len({a.json()["executionId"] for a in answers}) == 1
        other = await client.post(
            hook["webhookUrl"], json={"n": 2}, headers={"Idempotency-Key": "d-2"}
        )
        assert other.json()["executionId"] != answers[0].json()["executionId"]
        # A manual execute with the same key is another namespace: it starts its own run.
        manual = await client.post(
            f"{WS}/workflows/{hook['id']}/execute",
            json={"triggerData": {"n": 3}},
            headers={**headers, "Idempotency-Key": "d-1"},
        )
        assert manual.json()["execution"]["id"] != answers[0].json()["executionId"]
    assert await Execution.filter(workflow_id=hook["id"]).count() == 3


async def test_sync_mode_answers_the_result(live, tokens):
    headers = tokens.headers()
    async with httpx.AsyncClient(base_url=live) as client:
        hook = await make_workflow(
            client,
            headers,
            {"type": "webhook", "mode": "sync"},
            actions=[
                {"type": "condition", "config": {"field": "trigger.body.n", "operator": "exists"}},
                notify("Hello {{trigger.body.name}}", "{{trigger.body.user}}"),
            ],
        )
        response = await client.post(hook["webhookUrl"], json={"name": "Ada", "user": "u1", "n": 1})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["execution"]["status"] == "COMPLETED"
        assert body["execution"]["id"] == body["executionId"]
        assert body["result"]["message"] == "Hello Ada"
        assert [s["status"] for s in body["execution"]["steps"]] == ["success", "success"]


async def test_inactive_unknown_and_oversized(live, tokens):
    headers = tokens.headers()
    async with httpx.AsyncClient(base_url=live) as client:
        hook = await make_workflow(client, headers, {"type": "webhook"}, status="INACTIVE")
        inactive = await client.post(hook["webhookUrl"], json={})
        assert inactive.status_code == 409
        assert inactive.json()["error"]["code"] == "WORKFLOW_INACTIVE"
        for path in ("/hooks/hk_" + "a" * 43, "/hooks/nope", "/hooks/" + "x" * 5000):
            unknown = await client.post(path, json={})
            assert unknown.status_code == 404, path
            assert unknown.json()["error"]["code"] == "NOT_FOUND"
        active = await make_workflow(client, headers, {"type": "webhook"})
        big = b'{"blob": "' + b"x" * MAX_INPUT_BYTES + b'"}'
        too_big = await client.post(
            active["webhookUrl"], content=big, headers={"Content-Type": "application/json"}
        )
        assert too_big.status_code == 400
        assert too_big.json()["error"]["code"] == "VALIDATION_ERROR"
        bad_json = await client.post(
            active["webhookUrl"], content=b"{nope", headers={"Content-Type": "application/json"}
        )
        assert bad_json.status_code == 400
        text = await client.post(
            active["webhookUrl"], content=b"plain words", headers={"Content-Type": "text/plain"}
        )
        assert text.status_code == 202
        get = await client.get(active["webhookUrl"])
        assert get.status_code == 405
    executions = await Execution.all()
    assert len(executions) == 1
    assert executions[0].trigger_data["body"] == "plain words"


async def test_trigger_data_that_cannot_be_stored_is_400_and_starts_nothing(live, tokens):
    """NUL in the query or a text body cannot be stored (Postgres' jsonb refuses it), and
    the query and headers count toward the trigger data limit with the body."""
    headers = tokens.headers()
    async with httpx.AsyncClient(base_url=live) as client:
        hook = await make_workflow(client, headers, {"type": "webhook"})
        url = hook["webhookUrl"]
        padding = "x" * (MAX_INPUT_BYTES - 2000)
        refused = [
            await client.post(url + "?x=%00", json={"n": 1}),
            await client.post(url, content=b"a\x00b", headers={"Content-Type": "text/plain"}),
            await client.post(url, json={"n": "\u0000"}),
            await client.post(url, json={"blob": padding}, headers={"X-Padding": "p" * 3000}),
            await client.post(url + "?q=" + "y" * 3000, json={"blob": padding}),
        ]
        for response in refused:
            assert response.status_code == 400, response.text
            assert response.json()["error"]["code"] == "VALIDATION_ERROR"
        fits = await client.post(url, json={"blob": padding})
        assert fits.status_code == 202, fits.text
    executions = await Execution.all()
    assert [e.trigger_data["body"] for e in executions] == [{"blob": padding}]


async def test_rotation_moves_the_hook(live, tokens):
    async with httpx.AsyncClient(base_url=live) as client:
        hook = await make_workflow(client, tokens.headers(), {"type": "webhook"})
        path = f"{WS}/workflows/{hook['id']}/webhook/rotate"
        refused = await client.post(path, headers=tokens.headers("editor"))
        assert refused.status_code == 403
        rotated = await client.post(path, headers=tokens.headers())
        assert rotated.status_code == 200
        new_url = rotated.json()["workflow"]["webhookUrl"]
        assert new_url != hook["webhookUrl"]
        assert (await client.post(hook["webhookUrl"], json={})).status_code == 404
        assert (await client.post(new_url, json={"n": 1})).status_code == 202
        manual = await make_workflow(client, tokens.headers(), {"type": "manual"})
        not_hook = await client.post(
            f"{WS}/workflows/{manual['id']}/webhook/rotate", headers=tokens.headers()
        )
        assert not_hook.status_code == 422
        assert not_hook.json()["error"]["details"][0]["field"] == "trigger.type"
        mutation = (
            'mutation($id: ID!) { rotateWebhook(workspaceSlug: "acme", id: $id) { webhookUrl } }'
        )
        answer = await client.post(
            "/graphql",
            json={"query": mutation, "variables": {"id": hook["id"]}},
            headers=tokens.headers(),
        )
        assert answer.json()["data"]["rotateWebhook"]["webhookUrl"] not in (None, new_url)
        assert len(await executions_of(client, tokens.headers(), hook["id"])) == 1
