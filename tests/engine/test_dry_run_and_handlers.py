"""Dry runs, custom action handlers and plugin loading."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import runcast
from runcast.engine.actions.registry import get_action_type, load_plugins, unregister_action_handler
from runcast.models import Execution, Notification, StepRun, Task
from tests.helpers import WS, create_workflow
from tests.receiver import running_receiver

seen: list[runcast.ActionContext] = []


async def send_email(action: dict[str, Any], context: runcast.ActionContext) -> Any:
    seen.append(context)
    config = action["config"]
    if not config.get("to"):
        return {"success": False, "error": "Email requires to and subject"}
    return runcast.ActionResult(True, {"emailSent": True, "recipient": config["to"]})


async def explode(action: dict[str, Any], context: runcast.ActionContext) -> Any:
    raise RuntimeError("mail server on fire")


async def garbage(action: dict[str, Any], context: runcast.ActionContext) -> Any:
    return 42


async def bad_output(action: dict[str, Any], context: runcast.ActionContext) -> Any:
    return runcast.ActionResult(True, {"when": object()})


@pytest.fixture
def handlers() -> Iterator[None]:
    seen.clear()
    runcast.register_action_handler("send_email", send_email)
    runcast.register_action_handler("send_email_dry", send_email, dry_run=True)
    runcast.register_action_handler("explode", explode)
    runcast.register_action_handler("garbage", garbage)
    runcast.register_action_handler("bad_output", bad_output)
    yield
    for name in ("send_email", "send_email_dry", "explode", "garbage", "bad_output"):
        unregister_action_handler(name)


async def run(client, tokens, *actions: dict[str, Any], **body: Any) -> dict[str, Any]:
    workflow = await create_workflow(client, tokens.headers(), *actions)
    response = await client.post(
        f"{WS}/workflows/{workflow['id']}/execute",
        json={"wait": True, **body},
        headers=tokens.headers("editor"),
    )
    assert response.status_code == 201, response.text
    return response.json()["execution"]


@pytest.mark.settings(allow_private_network=True)
async def test_dry_run_writes_and_sends_nothing_and_does_not_sleep(client, tokens):
    async with running_receiver() as receiver:
        started = time.monotonic()
        execution = await run(
            client,
            tokens,
            {"type": "send_notification", "config": {"message": "Hi {{trigger.u}}"}},
            {"type": "create_task", "config": {"title": "T"}},
            {"type": "condition", "config": {"field": "trigger.u", "operator": "exists"}},
            {"type": "wait", "config": {"durationMs": 20_000}},
            {
                "type": "call_api",
                "config": {
                    "url": f"{receiver.url}/x",
                    "method": "PUT",
                    "headers": {"Authorization": "Bearer s3cret", "X-Api-Key": "k", "X-Trace": "t"},
                    "body": {"u": "{{trigger.u}}"},
                },
            },
            dryRun=True,
            triggerData={"u": "ann"},
        )
        elapsed = time.monotonic() - started
    assert elapsed < 5
    assert execution["isSimulation"] is True
    assert execution["status"] == "COMPLETED"
    outputs = [s["output"] for s in execution["steps"]]
    assert outputs[0]["simulated"] is True and outputs[0]["message"] == "Hi ann"
    assert outputs[1]["simulated"] is True and outputs[1]["taskId"] is None
    assert outputs[2]["result"] is True
    assert outputs[3] == {"waitedMs": 0, "durationMs": 20_000, "simulated": True}
    request = outputs[4]["request"]
    assert request["method"] == "PUT"
    assert request["body"] == {"u": "ann"}
    assert request["headers"]["Authorization"] == "[redacted]"
    assert request["headers"]["X-Api-Key"] == "[redacted]"
    assert request["headers"]["X-Trace"] == "t"
    assert receiver.requests == []
    assert await Task.all().count() == 0
    assert await Notification.all().count() == 0
    assert await Execution.filter(is_simulation=True).count() == 1


async def test_custom_handler_runs_with_context(client, tokens, handlers):
    execution = await run(
        client,
        tokens,
        {"type": "send_notification", "config": {"message": "m"}},
        {"id": "mail", "type": "send_email", "config": {"to": "{{trigger.to}}"}},
        triggerData={"to": "a@b.c"},
        variables={"v": 1},
    )
    assert execution["status"] == "COMPLETED"
    assert execution["steps"][1]["output"] == {"emailSent": True, "recipient": "a@b.c"}
    [context] = seen
    assert context.execution_id == execution["id"]
    assert context.workspace_id == execution["workspaceId"]
    assert context.trigger_data == {"to": "a@b.c"}
    assert context.variables == {"v": 1}
    assert context.steps["action-1"]["output"]["message"] == "m"
    assert context.dry_run is False
    assert context.idempotency_key == f"{execution['id']}:mail"
    assert context.logger is not None


async def test_custom_handler_dict_failure(client, tokens, handlers):
    execution = await run(client, tokens, {"type": "send_email", "config": {}})
    assert execution["status"] == "FAILED"
    assert execution["steps"][0]["error"] == "Email requires to and subject"


@pytest.mark.parametrize(
    ("action_type", "message"),
    [
        ("explode", "mail server on fire"),
        ("garbage", "handler returned int, not ActionResult"),
        ("bad_output", "handler output is not representable as JSON"),
    ],
)
async def test_broken_handlers_fail_their_step_only(client, tokens, handlers, action_type, message):
    execution = await run(
        client,
        tokens,
        {"type": action_type, "config": {}, "onError": "continue"},
        {"type": "send_notification", "config": {"message": "still here"}},
    )
    assert execution["status"] == "COMPLETED"
    assert message in execution["steps"][0]["error"]
    assert execution["steps"][1]["status"] == "success"
    again = await run(client, tokens, {"type": "send_notification", "config": {"message": "ok"}})
    assert again["status"] == "COMPLETED"


async def test_custom_handler_in_dry_run(client, tokens, handlers):
    execution = await run(
        client,
        tokens,
        {"type": "send_email", "config": {"to": "x@y.z"}},
        {"type": "send_email_dry", "config": {"to": "x@y.z"}},
        dryRun=True,
    )
    first, second = execution["steps"]
    assert first["status"] == "skipped"
    assert "does not run in a dry run" in first["output"]["reason"]
    assert second["status"] == "success"
    assert [c.dry_run for c in seen] == [True]


async def test_unregistered_type_is_rejected_and_registered_accepted(client, tokens, handlers):
    ok = await client.post(
        f"{WS}/workflows",
        headers=tokens.headers(),
        json={"name": "m", "actions": [{"type": "send_email", "config": {}}]},
    )
    assert ok.status_code == 201
    bad = await client.post(
        f"{WS}/workflows",
        headers=tokens.headers(),
        json={"name": "m", "actions": [{"type": "send_sms", "config": {}}]},
    )
    assert bad.status_code == 422


def test_builtins_cannot_be_replaced():
    with pytest.raises(ValueError, match="built-in"):
        runcast.register_action_handler("wait", send_email)


def test_plugins_load_from_modules_and_entry_points(tmp_path: Path, monkeypatch):
    package = tmp_path / "rc_plugin_mod.py"
    package.write_text(
        "import runcast\n"
        "async def h(action, context):\n"
        "    return runcast.ActionResult(True, {})\n"
        "runcast.register_action_handler('from_module', h)\n"
    )
    (tmp_path / "rc_entry.py").write_text(
        "async def handler(action, context):\n    return {'success': True}\n"
    )
    dist = tmp_path / "rc_entry-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: rc-entry\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[runcast.actions]\nfrom_entry = rc_entry:handler\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        load_plugins(("rc_plugin_mod",))
        assert get_action_type("from_module") is not None
        assert get_action_type("from_entry") is not None
    finally:
        unregister_action_handler("from_module")
        unregister_action_handler("from_entry")
        sys.modules.pop("rc_plugin_mod", None)


async def test_step_rows_are_stored(client, tokens):
    execution = await run(client, tokens, {"type": "send_notification", "config": {"message": "m"}})
    rows = await StepRun.filter(execution_id=execution["id"]).values(
        "action_id", "status", "attempts"
    )
    assert rows == [{"action_id": "action-1", "status": "success", "attempts": 1}]
