"""Workflow definitions over REST: CRUD and every validation path."""

from __future__ import annotations

from typing import Any

import pytest

from runcast.models import Workflow
from tests.helpers import WS, create_workflow, notify, workflow_body


async def test_crud_round_trip(client, tokens):
    headers = tokens.headers()
    body = workflow_body(
        notify(),
        {
            "type": "create_task",
            "config": {"title": "Checklist", "priority": "HIGH"},
            "onError": "continue",
        },
        {
            "id": "gate",
            "type": "condition",
            "config": {"field": "trigger.plan", "operator": "equals", "value": "pro"},
        },
        {"type": "wait", "config": {"durationMs": 10}, "timeout": 500},
        {
            "type": "call_api",
            "config": {
                "url": "https://api.example.com/hook",
                "method": "POST",
                "headers": {"X-A": "b"},
                "body": {"k": 1},
            },
            "onError": "retry",
        },
        description="Automated onboarding",
        timeoutMs=60000,
        trigger={"type": "manual"},
    )
    created = await client.post(f"{WS}/workflows", json=body, headers=headers)
    assert created.status_code == 201
    workflow = created.json()["workflow"]
    assert workflow["id"].startswith("wf_")
    assert workflow["status"] == "ACTIVE"
    assert workflow["timeoutMs"] == 60000
    assert [a["id"] for a in workflow["actions"]] == [
        "action-1",
        "action-2",
        "gate",
        "action-4",
        "action-5",
    ]
    assert workflow["actions"][1]["onError"] == "continue"
    assert workflow["actions"][0]["onError"] == "stop"
    assert workflow["actions"][3]["timeout"] == 500
    assert workflow["createdAt"].endswith("Z")

    fetched = await client.get(f"{WS}/workflows/{workflow['id']}", headers=headers)
    assert fetched.json() == {"workflow": workflow}
    listing = await client.get(f"{WS}/workflows", headers=headers)
    assert listing.json() == {"workflows": [workflow]}

    patched = await client.patch(
        f"{WS}/workflows/{workflow['id']}",
        json={"status": "INACTIVE", "name": "Renamed"},
        headers=headers,
    )
    assert patched.status_code == 200
    assert patched.json()["workflow"]["status"] == "INACTIVE"
    assert patched.json()["workflow"]["name"] == "Renamed"
    assert patched.json()["workflow"]["actions"] == workflow["actions"]
    stored = await Workflow.get(id=workflow["id"])
    assert (stored.name, stored.status) == ("Renamed", "INACTIVE")

    deleted = await client.delete(f"{WS}/workflows/{workflow['id']}", headers=headers)
    assert deleted.status_code == 200
    assert deleted.json()["workflow"]["id"] == workflow["id"]
    gone = await client.get(f"{WS}/workflows/{workflow['id']}", headers=headers)
    assert gone.status_code == 404
    assert gone.json()["error"]["code"] == "WORKFLOW_NOT_FOUND"
    assert await Workflow.filter(id=workflow["id"]).count() == 0


BAD_REQUESTS: list[tuple[str, Any]] = [
    ("not json", b"{name: nope"),
    ("array body", b"[1, 2]"),
    ("no name", b'{"actions": [{"type": "wait", "config": {"durationMs": 1}}]}'),
    ("name not string", b'{"name": 5, "actions": []}'),
    ("bad status", b'{"name": "x", "status": "PAUSED", "actions": []}'),
    ("bad trigger", b'{"name": "x", "trigger": "manual", "actions": []}'),
    ("bad timeoutMs", b'{"name": "x", "timeoutMs": -5, "actions": []}'),
    ("timeoutMs string", b'{"name": "x", "timeoutMs": "60", "actions": []}'),
    ("actions not list", b'{"name": "x", "actions": {"type": "wait"}}'),
    ("no actions", b'{"name": "x"}'),
    ("unknown field", b'{"name": "x", "actions": [], "owner": "me"}'),
    ("bad utf8", b'{"name": "\xff\xfe"}'),
    ("lone surrogate", b'{"name": "\\ud800", "actions": []}'),
    ("infinity", b'{"name": "x", "timeoutMs": 1e999, "actions": []}'),
    ("nul", b'{"name": "a\\u0000b", "actions": []}'),
]


@pytest.mark.parametrize(("case", "raw"), BAD_REQUESTS, ids=[c for c, _ in BAD_REQUESTS])
async def test_malformed_requests_are_400(client, tokens, case, raw):
    response = await client.post(
        f"{WS}/workflows",
        content=raw,
        headers={**tokens.headers(), "Content-Type": "application/json"},
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"
    assert await Workflow.all().count() == 0


async def test_oversize_body_is_400(client, tokens):
    body = workflow_body(notify(message="x" * 2_000_000))
    response = await client.post(f"{WS}/workflows", json=body, headers=tokens.headers())
    assert response.status_code == 400
    assert "larger than" in response.json()["error"]["message"]


INVALID_ACTIONS: list[tuple[str, dict[str, Any], str]] = [
    ("unknown type", {"type": "launch_rocket"}, "unknown action type 'launch_rocket'"),
    ("no type", {"config": {}}, "type is required"),
    ("bad onError", {**notify(), "onError": "explode"}, "onError must be one of"),
    ("bad timeout", {**notify(), "timeout": 0}, "timeout must be an integer"),
    ("timeout bool", {**notify(), "timeout": True}, "timeout must be an integer"),
    ("config not object", {"type": "wait", "config": [1]}, "config must be an object"),
    (
        "notification no message",
        {"type": "send_notification", "config": {}},
        "config.message is required",
    ),
    (
        "notification recipient type",
        {"type": "send_notification", "config": {"message": "hi", "recipient": 5}},
        "config.recipient must be a string",
    ),
    (
        "task no title",
        {"type": "create_task", "config": {"priority": "HIGH"}},
        "config.title is required",
    ),
    (
        "task priority",
        {"type": "create_task", "config": {"title": "t", "priority": "SOON"}},
        "config.priority must be one of",
    ),
    ("api no url", {"type": "call_api", "config": {}}, "config.url is required"),
    (
        "api ftp url",
        {"type": "call_api", "config": {"url": "ftp://x.org/a"}},
        "absolute http or https URL",
    ),
    (
        "api method",
        {"type": "call_api", "config": {"url": "https://x.org", "method": "BREW"}},
        "config.method must be one of",
    ),
    (
        "api headers",
        {"type": "call_api", "config": {"url": "https://x.org", "headers": {"a": 1}}},
        "config.headers must be an object",
    ),
    ("wait no duration", {"type": "wait", "config": {}}, "config.durationMs is required"),
    (
        "wait negative",
        {"type": "wait", "config": {"durationMs": -1}},
        "config.durationMs is required",
    ),
    (
        "wait string",
        {"type": "wait", "config": {"durationMs": "10"}},
        "config.durationMs is required",
    ),
    (
        "condition operator",
        {"type": "condition", "config": {"field": "trigger.a", "operator": "matches", "value": 1}},
        "config.operator must be one of",
    ),
    (
        "condition no field",
        {"type": "condition", "config": {"operator": "exists"}},
        "config.field is required",
    ),
    (
        "condition no value",
        {"type": "condition", "config": {"field": "trigger.a", "operator": "equals"}},
        "config.value is required",
    ),
    (
        "condition template field",
        {"type": "condition", "config": {"field": "{{trigger.a}}", "operator": "exists"}},
        "not a {{ template }}",
    ),
    ("bad id", {**notify(), "id": "has space"}, "id must be"),
    (
        "api broken url",
        {"type": "call_api", "config": {"url": "http://[::1"}},
        "absolute http or https URL",
    ),
    (
        "wait huge",
        {"type": "wait", "config": {"durationMs": 1e300}},
        "config.durationMs is required",
    ),
    (
        "condition operator list",
        {"type": "condition", "config": {"field": "trigger.a", "operator": []}},
        "config.operator must be one of",
    ),
]


@pytest.mark.parametrize(
    ("case", "action", "message"), INVALID_ACTIONS, ids=[c for c, _, _ in INVALID_ACTIONS]
)
async def test_invalid_actions_are_422_naming_the_action(client, tokens, case, action, message):
    body = workflow_body(notify(), action)
    response = await client.post(f"{WS}/workflows", json=body, headers=tokens.headers())
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "WORKFLOW_INVALID"
    detail = error["details"][0]
    assert detail["index"] == 1
    assert detail["actionId"] == action.get("id", "action-2")
    assert message in detail["message"]
    assert await Workflow.all().count() == 0


async def test_duplicate_action_ids_are_422(client, tokens):
    body = workflow_body({**notify(), "id": "same"}, {**notify(), "id": "same"})
    response = await client.post(f"{WS}/workflows", json=body, headers=tokens.headers())
    assert response.status_code == 422
    assert response.json()["error"]["details"] == [
        {"index": 1, "actionId": "same", "message": "duplicate action id 'same'"}
    ]


async def test_empty_action_list_is_422(client, tokens):
    response = await client.post(
        f"{WS}/workflows", json=workflow_body() | {"actions": []}, headers=tokens.headers()
    )
    assert response.status_code == 422


async def test_invalid_patch_leaves_workflow_unchanged(client, tokens):
    workflow = await create_workflow(client, tokens.headers(), notify())
    url = f"{WS}/workflows/{workflow['id']}"
    bad = await client.patch(url, json={"actions": [{"type": "nope"}]}, headers=tokens.headers())
    assert bad.status_code == 422
    bad = await client.patch(url, json={"status": "nope"}, headers=tokens.headers())
    assert bad.status_code == 400
    assert (await client.get(url, headers=tokens.headers())).json()["workflow"] == workflow


async def test_all_condition_operators_validate(client, tokens):
    operators = [
        "equals",
        "not_equals",
        "greater_than",
        "less_than",
        "contains",
        "not_contains",
        "exists",
        "not_exists",
    ]
    actions = [
        {"type": "condition", "config": {"field": "trigger.x", "operator": op, "value": 1}}
        for op in operators
    ]
    await create_workflow(client, tokens.headers(), *actions)


async def test_unknown_route_and_method(client, tokens):
    response = await client.put(f"{WS}/workflows", json={}, headers=tokens.headers())
    assert response.status_code == 405
