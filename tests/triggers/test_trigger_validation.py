"""Trigger and concurrency validation: 422 WORKFLOW_INVALID naming the field; what is
stored and answered (never a webhook secret); a stored odd trigger still loads and runs."""

from __future__ import annotations

from typing import Any

import pytest
from tortoise import Tortoise
from tortoise.backends.base.executor import EXECUTOR_CACHE
from tortoise.migrations.api import migrate

from runcast.db import apply_migrations, tortoise_config
from runcast.models import Execution, Workflow, Workspace
from runcast.resolvers.webhooks import signature
from runcast.settings import Settings
from tests.helpers import WS
from tests.triggers.helpers import CHEAP, make_workflow

BAD_TRIGGERS: list[tuple[str, Any, str]] = [
    ("unknown type", {"type": "cron"}, "trigger.type"),
    ("type not string", {"type": 5}, "trigger.type"),
    ("bad cron", {"type": "schedule", "cron": "61 * * * *"}, "trigger.cron"),
    ("cron words", {"type": "schedule", "cron": "every minute"}, "trigger.cron"),
    ("cron 7 fields", {"type": "schedule", "cron": "* * * * * * *"}, "trigger.cron"),
    ("no cron", {"type": "schedule"}, "trigger.cron"),
    (
        "unknown zone",
        {"type": "schedule", "cron": "* * * * *", "timezone": "Mars/Base"},
        "trigger.timezone",
    ),
    (
        "zone path",
        {"type": "schedule", "cron": "* * * * *", "timezone": "../etc/passwd"},
        "trigger.timezone",
    ),
    (
        "bad overlap",
        {"type": "schedule", "cron": "* * * * *", "overlap": "queue"},
        "trigger.overlap",
    ),
    (
        "bad catchup",
        {"type": "schedule", "cron": "* * * * *", "catchupWindowSeconds": -1},
        "trigger.catchupWindowSeconds",
    ),
    ("bad paused", {"type": "schedule", "cron": "* * * * *", "paused": "no"}, "trigger.paused"),
    ("bad mode", {"type": "webhook", "mode": "later"}, "trigger.mode"),
    ("secret number", {"type": "webhook", "secret": 5}, "trigger.secret"),
    ("secret empty", {"type": "webhook", "secret": ""}, "trigger.secret"),
    ("no event", {"type": "event"}, "trigger.event"),
    ("bad event name", {"type": "event", "event": "a b"}, "trigger.event"),
    (
        "filter operator",
        {"type": "event", "event": "e", "filter": {"field": "a", "operator": "like", "value": 1}},
        "trigger.filter.operator",
    ),
    (
        "filter no value",
        {"type": "event", "event": "e", "filter": {"field": "a", "operator": "equals"}},
        "trigger.filter.value",
    ),
    (
        "filter field",
        {"type": "event", "event": "e", "filter": {"field": "a..b", "operator": "exists"}},
        "trigger.filter.field",
    ),
    (
        "filter list item",
        {"type": "event", "event": "e", "filter": [{"field": "a", "operator": "exists"}, 3]},
        "trigger.filter.1",
    ),
    (
        "filter extra key",
        {"type": "event", "event": "e", "filter": {"field": "a", "operator": "exists", "x": 1}},
        "trigger.filter.x",
    ),
    ("manual extra field", {"type": "manual", "cron": "* * * * *"}, "trigger.cron"),
]


@pytest.mark.parametrize(
    ("case", "trigger", "field"), BAD_TRIGGERS, ids=[c for c, _, _ in BAD_TRIGGERS]
)
async def test_bad_triggers_are_422_naming_the_field(client, tokens, case, trigger, field):
    body = {"name": "x", "trigger": trigger, "actions": [CHEAP]}
    response = await client.post(f"{WS}/workflows", json=body, headers=tokens.headers())
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "WORKFLOW_INVALID"
    assert error["details"][0]["field"] == field
    assert error["message"].startswith(field)
    assert await Workflow.all().count() == 0


@pytest.mark.parametrize(
    ("concurrency", "field"),
    [
        ({"limit": 0}, "concurrency.limit"),
        ({"limit": True}, "concurrency.limit"),
        ({"key": "{{trigger.u}}"}, "concurrency.limit"),
        ({"limit": 2, "key": ""}, "concurrency.key"),
        ({"limit": 2, "per": "user"}, "concurrency.per"),
        ([2], "concurrency"),
    ],
)
async def test_bad_concurrency_is_422(client, tokens, concurrency, field):
    body = {"name": "x", "concurrency": concurrency, "actions": [CHEAP]}
    response = await client.post(f"{WS}/workflows", json=body, headers=tokens.headers())
    assert response.status_code == 422, response.text
    assert response.json()["error"]["details"][0]["field"] == field


async def test_a_bad_trigger_on_update_changes_nothing(client, tokens):
    workflow = await make_workflow(client, tokens.headers(), {"type": "manual"})
    response = await client.patch(
        f"{WS}/workflows/{workflow['id']}",
        json={"trigger": {"type": "schedule", "cron": "* * * * *", "timezone": "Nowhere/City"}},
        headers=tokens.headers(),
    )
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["field"] == "trigger.timezone"
    again = await client.get(f"{WS}/workflows/{workflow['id']}", headers=tokens.headers())
    assert again.json()["workflow"]["trigger"] == {"type": "manual"}


async def test_valid_triggers_are_stored_with_their_defaults(client, tokens):
    headers = tokens.headers()
    schedule = await make_workflow(
        client, headers, {"type": "schedule", "cron": "*/5  * * * *", "timezone": "Europe/Berlin"}
    )
    assert schedule["trigger"] == {
        "type": "schedule",
        "cron": "*/5 * * * *",
        "timezone": "Europe/Berlin",
        "overlap": "skip",
        "catchupWindowSeconds": 60,
        "paused": False,
    }
    assert schedule["webhookUrl"] is None
    seconds = await make_workflow(client, headers, {"type": "schedule", "cron": "*/2 * * * * *"})
    assert seconds["trigger"]["cron"] == "*/2 * * * * *"
    event = await make_workflow(
        client,
        headers,
        {
            "type": "event",
            "event": "order.created",
            "filter": {"field": "total", "operator": "greater_than", "value": 10},
        },
        concurrency={"limit": 2, "key": "{{trigger.userId}}"},
    )
    assert event["trigger"]["event"] == "order.created"
    assert event["concurrency"] == {"limit": 2, "key": "{{trigger.userId}}"}
    default = await client.post(
        f"{WS}/workflows", json={"name": "d", "actions": [CHEAP]}, headers=headers
    )
    assert default.json()["workflow"]["trigger"] == {"type": "manual"}


async def test_a_webhook_secret_is_never_answered(client, tokens):
    headers = tokens.headers()
    hook = await make_workflow(client, headers, {"type": "webhook", "secret": "s3cret-value"})
    assert hook["trigger"] == {"type": "webhook", "mode": "async", "hasSecret": True}
    assert hook["webhookUrl"].startswith("/hooks/hk_")
    path = f"{WS}/workflows/{hook['id']}"
    for response in (
        await client.get(path, headers=headers),
        await client.get(f"{WS}/workflows", headers=headers),
        await client.patch(path, json={"name": "renamed"}, headers=headers),
    ):
        assert "s3cret-value" not in response.text
    # A trigger sent back without `secret` keeps it; `"secret": null` removes it.
    kept = await client.patch(
        path, json={"trigger": {"type": "webhook", "mode": "sync"}}, headers=headers
    )
    assert kept.json()["workflow"]["trigger"] == {
        "type": "webhook",
        "mode": "sync",
        "hasSecret": True,
    }
    assert kept.json()["workflow"]["webhookUrl"] == hook["webhookUrl"]
    removed = await client.patch(
        path, json={"trigger": {"type": "webhook", "secret": None}}, headers=headers
    )
    assert removed.json()["workflow"]["trigger"]["hasSecret"] is False
    query = 'query($id: ID!) { workflow(workspaceSlug: "acme", id: $id) { trigger webhookUrl } }'
    answer = await client.post(
        "/graphql", json={"query": query, "variables": {"id": hook["id"]}}, headers=headers
    )
    assert answer.json()["data"]["workflow"]["webhookUrl"] == hook["webhookUrl"]
    assert "s3cret" not in answer.text


async def test_leaving_webhook_drops_the_hook(client, tokens):
    headers = tokens.headers()
    hook = await make_workflow(client, headers, {"type": "webhook"})
    changed = await client.patch(
        f"{WS}/workflows/{hook['id']}", json={"trigger": {"type": "manual"}}, headers=headers
    )
    assert changed.json()["workflow"]["webhookUrl"] is None
    gone = await client.post(hook["webhookUrl"], json={})
    assert gone.status_code == 404
    back = await client.patch(
        f"{WS}/workflows/{hook['id']}", json={"trigger": {"type": "webhook"}}, headers=headers
    )
    assert back.json()["workflow"]["webhookUrl"] not in (None, hook["webhookUrl"])


async def test_a_stored_odd_trigger_still_loads_and_runs_manually(client, tokens):
    headers = tokens.headers()
    workflow = await make_workflow(client, headers, {"type": "manual"})
    odd = {"type": "carrier-pigeon", "cron": 7}
    await Workflow.filter(id=workflow["id"]).update(trigger=odd)
    read = await client.get(f"{WS}/workflows/{workflow['id']}", headers=headers)
    assert read.status_code == 200
    assert read.json()["workflow"]["trigger"] == odd
    listed = await client.get(f"{WS}/workflows", headers=headers)
    assert listed.status_code == 200
    run = await client.post(
        f"{WS}/workflows/{workflow['id']}/execute",
        json={"triggerData": {"n": 1}, "wait": True},
        headers=headers,
    )
    assert run.status_code == 201
    assert run.json()["execution"]["status"] == "COMPLETED"
    renamed = await client.patch(
        f"{WS}/workflows/{workflow['id']}", json={"name": "kept"}, headers=headers
    )
    assert renamed.status_code == 200
    assert renamed.json()["workflow"]["trigger"] == odd


async def test_graphql_refuses_a_bad_trigger_with_the_same_code(client, tokens):
    mutation = """mutation($input: WorkflowInput!) {
        createWorkflow(workspaceSlug: "acme", input: $input) { id trigger concurrency } }"""
    bad = {
        "name": "x",
        "trigger": {"type": "schedule", "cron": "* * * * *", "timezone": "Nowhere/City"},
        "actions": [CHEAP],
    }
    answer = await client.post(
        "/graphql", json={"query": mutation, "variables": {"input": bad}}, headers=tokens.headers()
    )
    (error,) = answer.json()["errors"]
    assert error["extensions"]["code"] == "WORKFLOW_INVALID"
    assert error["message"].startswith("trigger.timezone")
    good = {**bad, "trigger": {"type": "event", "event": "e"}, "concurrency": {"limit": 3}}
    answer = await client.post(
        "/graphql", json={"query": mutation, "variables": {"input": good}}, headers=tokens.headers()
    )
    created = answer.json()["data"]["createWorkflow"]
    assert created["trigger"] == {"type": "event", "event": "e"}
    assert created["concurrency"] == {"limit": 3}


BEFORE_SECRETS_MOVED = "runcast.0006_execution_concurrency"
LEGACY_TRIGGERS = {
    "signed": {"type": "webhook", "mode": "async", "secret": "old-secret"},
    "odd_secret": {"type": "webhook", "secret": 12345},
    "odd_field": {"type": "webhook", "mode": "async", "retries": 3},
}


@pytest.fixture
async def legacy(settings: Settings) -> dict[str, str]:
    """Workflows as versions before triggers were validated stored them (a webhook secret
    inside the trigger, odd fields, no hook), then the migrations applied over them."""
    config = tortoise_config(settings.database_url)
    await migrate(config=config, target=BEFORE_SECRETS_MOVED)
    await Tortoise.close_connections()
    EXECUTOR_CACHE.clear()  # keyed by connection name, so it would mix SQL dialects
    await Tortoise.init(config=config)
    try:
        workspace = await Workspace.create(id="ws_legacy", slug="acme", name="Acme")
        ids = {}
        for name, trigger in LEGACY_TRIGGERS.items():
            row = await Workflow.create(
                id=f"wf_legacy_{name}",
                workspace=workspace,
                name=name,
                trigger=trigger,
                actions=[{**CHEAP, "id": "action-1"}],
            )
            ids[name] = row.id
    finally:
        await Tortoise.close_connections()
    await apply_migrations(settings.database_url)
    return ids


async def test_a_secret_stored_in_an_old_trigger_is_moved_and_enforced(legacy, client, tokens):
    headers = tokens.headers("viewer")
    read = await client.get(f"{WS}/workflows/{legacy['signed']}", headers=headers)
    assert read.status_code == 200, read.text
    assert read.json()["workflow"]["trigger"] == {
        "type": "webhook",
        "mode": "async",
        "hasSecret": True,
    }
    listed = await client.get(f"{WS}/workflows", headers=headers)
    assert "old-secret" not in listed.text
    assert "12345" not in listed.text
    renamed = await client.patch(
        f"{WS}/workflows/{legacy['signed']}", json={"name": "renamed"}, headers=tokens.headers()
    )
    assert renamed.status_code == 200, renamed.text
    url = renamed.json()["workflow"]["webhookUrl"]
    assert url is not None
    unsigned = await client.post(url, json={"n": 1})
    assert unsigned.status_code == 401
    raw = b'{"n": 1}'
    signed = await client.post(
        url,
        content=raw,
        headers={"X-Runcast-Signature": signature("old-secret", raw)},
    )
    assert signed.status_code == 202, signed.text
    assert await Execution.filter(workflow_id=legacy["signed"]).count() == 1


async def test_an_old_trigger_that_does_not_validate_gets_no_hook(legacy, client, tokens):
    headers = tokens.headers()
    for name, field in (("odd_secret", "trigger.secret"), ("odd_field", "trigger.retries")):
        workflow_id = legacy[name]
        read = await client.get(f"{WS}/workflows/{workflow_id}", headers=headers)
        trigger = read.json()["workflow"]["trigger"]
        assert "secret" not in trigger and "retries" not in trigger, trigger
        renamed = await client.patch(
            f"{WS}/workflows/{workflow_id}", json={"name": "renamed"}, headers=headers
        )
        assert renamed.status_code == 200, renamed.text
        assert renamed.json()["workflow"]["webhookUrl"] is None
        rotated = await client.post(f"{WS}/workflows/{workflow_id}/webhook/rotate", headers=headers)
        assert rotated.status_code == 422, rotated.text
        assert rotated.json()["error"]["details"][0]["field"] == field
        saved = await client.patch(
            f"{WS}/workflows/{workflow_id}",
            json={"trigger": {"type": "webhook", "secret": "new-secret"}},
            headers=headers,
        )
        assert saved.status_code == 200, saved.text
        assert saved.json()["workflow"]["trigger"] == {
            "type": "webhook",
            "mode": "async",
            "hasSecret": True,
        }
        unsigned = await client.post(saved.json()["workflow"]["webhookUrl"], json={})
        assert unsigned.status_code == 401
    assert await Execution.all().count() == 0
