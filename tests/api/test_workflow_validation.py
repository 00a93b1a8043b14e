"""Strict validation of action definitions and configs: every bad action is 422
WORKFLOW_INVALID naming it, on REST create and PATCH and on GraphQL, and stores nothing;
values rendered from templates are checked again when the step runs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

import runcast
from runcast.engine.actions.registry import unregister_action_handler
from runcast.models import Notification, Task, Workflow
from tests.helpers import WS, as_graphql, create_workflow, graphql, notify, workflow_body

MAX_CONFIG = 64 * 1024
MAX_WAIT = 7 * 24 * 3600 * 1000


def note(**config: Any) -> dict[str, Any]:
    return {"type": "send_notification", "config": {"message": "hi", **config}}


def task(**config: Any) -> dict[str, Any]:
    return {"type": "create_task", "config": {"title": "t", **config}}


def api(**config: Any) -> dict[str, Any]:
    return {"type": "call_api", "config": {"url": "https://api.example.com/hook", **config}}


def wait(duration: Any) -> dict[str, Any]:
    return {"type": "wait", "config": {"durationMs": duration}}


def cond(**config: Any) -> dict[str, Any]:
    return {"type": "condition", "config": {"field": "trigger.a", "operator": "exists", **config}}


def padded(action: dict[str, Any], size: int, key: str = "pad") -> dict[str, Any]:
    """`action` with a `key` config string making its config exactly `size` bytes of JSON."""
    config = {**action["config"], key: ""}
    base = len(json.dumps(config).encode())
    return {**action, "config": {**config, key: "x" * (size - base)}}


@pytest.fixture
def free_form() -> Iterator[str]:
    """A custom action type without a config validator."""

    async def handler(action: dict[str, Any], context: Any) -> dict[str, Any]:
        return {"success": True, "output": {"seen": sorted(action["config"])}}

    runcast.register_action_handler("free_form", handler, dry_run=True)
    yield "free_form"
    unregister_action_handler("free_form")


# (case, action, what the detail message says, whether GraphQL's schema refuses it first)
BAD: list[tuple[str, dict[str, Any], str, bool]] = [
    # action fields
    ("retries", {**note(), "retries": 1_000_000_000}, "retries is not an action field", True),
    ("action key echo is cut", {**note(), "k" * 500: 1}, "k" * 50 + "… is not an action", True),
    ("timeout fraction", {**note(), "timeout": 1.5}, "timeout must be an integer", True),
    ("timeout string", {**note(), "timeout": "100"}, "timeout must be an integer", True),
    ("timeout too long", {**note(), "timeout": 3_600_001}, "timeout must be an integer", False),
    ("onError enum", {**note(), "onError": "ignore"}, "onError must be one of", True),
    ("name type", {**note(), "name": 5}, "name must be a string", True),
    ("type too long", {"type": "x" * 101, "config": {}}, "type must be at most 100", False),
    (
        "config too big",
        padded(note(), MAX_CONFIG + 1),
        f"config is {MAX_CONFIG + 1} bytes of JSON, more than {MAX_CONFIG}",
        False,
    ),
    # send_notification
    ("notification message type", note(message=5), "config.message is required", False),
    ("notification message long", note(message="m" * 10_001), "at most 10000", False),
    ("notification recipient long", note(recipient="r" * 201), "at most 200", False),
    ("notification unknown key", note(channel="sms"), "config.channel is not a", False),
    # create_task
    ("task title type", task(title=["t"]), "config.title is required", False),
    ("task title long", task(title="t" * 501), "config.title must be at most 500", False),
    ("task description type", task(description={}), "config.description must be", False),
    ("task priority enum", task(priority="high"), "config.priority must be one of", False),
    ("task priority number", task(priority=1), "config.priority must be one of", False),
    ("task priority templated long", task(priority="{{trigger.p}}" + " " * 200), "one of", False),
    ("task assignee long", task(assignedTo="a" * 201), "config.assignedTo must be at", False),
    ("task unknown key", task(dueDate="2025-01-01"), "config.dueDate is not a create_task", False),
    # call_api
    ("api url type", api(url=5), "config.url is required", False),
    ("api url long", api(url="https://x.org/" + "a" * 8_200), "at most 8192", False),
    ("api url scheme", api(url="file:///etc/passwd"), "absolute http or https URL", False),
    ("api method lowercase", api(method="post"), "config.method must be one of", False),
    ("api method type", api(method=["GET"]), "config.method must be one of", False),
    ("api headers list", api(headers=[["a", "b"]]), "config.headers must be an object", False),
    ("api header value type", api(headers={"X-N": 1}), "config.headers must be an object", False),
    ("api header name", api(headers={"X Bad": "v"}), "is not a header name", False),
    ("api header newline", api(headers={"X-A": "v\r\nEvil: 1"}), "without line breaks", False),
    (
        "api too many headers",
        api(headers={f"X-{i}": "v" for i in range(51)}),
        "at most 50 headers",
        False,
    ),
    ("api unknown key", api(timeoutMs=5), "config.timeoutMs is not a call_api setting", False),
    # wait
    ("wait fraction", wait(1.5), "config.durationMs is required", False),
    ("wait boolean", wait(True), "config.durationMs is required", False),
    ("wait numeric string", wait("10"), "config.durationMs is required", False),
    ("wait partial template", wait("{{trigger.s}}000"), "exactly one {{ template }}", False),
    ("wait empty template", wait("{{ }}"), "config.durationMs is required", False),
    ("wait negative", wait(-1), "from 0 to", False),
    ("wait too long", wait(MAX_WAIT + 1), "from 0 to", False),
    ("wait object", wait({"ms": 1}), "config.durationMs is required", False),
    (
        "wait unknown key",
        {"type": "wait", "config": {"durationMs": 1, "jitter": 5}},
        "config.jitter is not a wait setting (allowed: durationMs)",
        False,
    ),
    (
        "many unknown keys",
        {"type": "wait", "config": {"durationMs": 1, **{f"k{i}": i for i in range(8)}}},
        "config.k0, config.k1, config.k2, config.k3, config.k4 and 3 more are not wait settings",
        False,
    ),
    # condition
    ("condition operator enum", cond(operator="EQUALS"), "config.operator must be one of", False),
    ("condition field root", cond(field="user.plan"), "starting with one of trigger", False),
    ("condition field empty part", cond(field="trigger..a"), "a dotted path starting", False),
    ("condition field long", cond(field="trigger." + "a" * 500), "at most 500", False),
    ("condition value missing", cond(operator="equals"), "config.value is required", False),
    ("condition unknown key", cond(caseSensitive=False), "config.caseSensitive is not a", False),
]
BAD_IDS = [case for case, *_ in BAD]


def bad_action(action: dict[str, Any]) -> dict[str, Any]:
    return {"id": "bad", **action}


def assert_names_the_action(error: dict[str, Any], message: str) -> None:
    assert error["code"] == "WORKFLOW_INVALID"
    assert {"index": 1, "actionId": "bad"} == {
        k: error["details"][0][k] for k in ("index", "actionId")
    }
    assert any(message in d["message"] for d in error["details"]), error["details"]
    assert all(d["index"] == 1 and d["actionId"] == "bad" for d in error["details"])


CREATE = """mutation($input: WorkflowInput!) {
    createWorkflow(workspaceSlug: "acme", input: $input) { id } }"""


async def listed(client, tokens) -> list[dict[str, Any]]:
    response = await client.get(f"{WS}/workflows", headers=tokens.headers())
    return response.json()["workflows"]


@pytest.mark.parametrize(("case", "action", "message", "schema"), BAD, ids=BAD_IDS)
async def test_bad_action_is_refused_everywhere(client, tokens, case, action, message, schema):
    actions = [notify(), bad_action(action)]
    created = await client.post(
        f"{WS}/workflows", json=workflow_body(*actions), headers=tokens.headers()
    )
    assert created.status_code == 422, created.text
    assert_names_the_action(created.json()["error"], message)
    assert await listed(client, tokens) == []

    workflow = await create_workflow(client, tokens.headers(), notify())
    patched = await client.patch(
        f"{WS}/workflows/{workflow['id']}",
        json={"name": "renamed", "actions": actions},
        headers=tokens.headers(),
    )
    assert patched.status_code == 422, patched.text
    assert_names_the_action(patched.json()["error"], message)
    assert await listed(client, tokens) == [workflow]

    answer = await graphql(
        client, CREATE, tokens.headers(), input={"name": "x", "actions": actions}
    )
    assert answer["data"] is None
    error = answer["errors"][0]
    if schema:  # a field or type the input type does not have: GraphQL refuses it itself
        assert error["extensions"]["code"] == "VALIDATION_ERROR"
    else:
        assert error["message"].startswith("Action bad: ")
        details = error["extensions"]["details"]
        assert_names_the_action({"code": error["extensions"]["code"], "details": details}, message)
    assert await listed(client, tokens) == [workflow]


async def test_custom_type_gets_action_field_and_size_checks(client, tokens, free_form):
    for action, message in [
        ({"type": free_form, "config": {}, "retries": 3}, "retries is not an action field"),
        (padded({"type": free_form, "config": {}}, MAX_CONFIG + 1), "more than 65536"),
    ]:
        body = workflow_body(bad_action(action))
        response = await client.post(f"{WS}/workflows", json=body, headers=tokens.headers())
        assert response.status_code == 422, response.text
        assert message in response.json()["error"]["details"][0]["message"]
    assert await Workflow.all().count() == 0


async def test_every_problem_of_an_action_is_listed(client, tokens):
    action = {"id": "bad", "retries": 1, **task(title=5, priority="SOON", dueDate="x")}
    response = await client.post(
        f"{WS}/workflows", json=workflow_body(notify(), action), headers=tokens.headers()
    )
    assert response.status_code == 422, response.text
    messages = [d["message"] for d in response.json()["error"]["details"]]
    assert len(messages) == 4, messages
    assert messages[0].startswith("retries is not an action field (allowed: id, type, name,")
    assert messages[1] == (
        "config.dueDate is not a create_task setting "
        "(allowed: title, description, priority, assignedTo)"
    )
    assert messages[2] == "config.title is required and must be a non-empty string"
    assert messages[3].startswith("config.priority must be one of LOW, MEDIUM, HIGH, URGENT")


GOOD: list[tuple[str, dict[str, Any]]] = [
    ("notification templated", note(message="Hi {{trigger.name}}", recipient="{{trigger.id}}")),
    ("notification limits", note(message="m" * 10_000, recipient="r" * 200)),
    (
        "task every key",
        task(title="T", description="D", priority="URGENT", assignedTo="{{trigger.id}}"),
    ),
    ("task templated priority", task(priority="{{trigger.priority}}")),
    ("task null optionals", task(description=None, priority=None, assignedTo=None)),
    (
        "api every key",
        api(
            url="https://{{trigger.host}}/x",
            method="{{trigger.method}}",
            headers={"Authorization": "Bearer {{variables.token}}", "X-Id": "{{trigger.id}}"},
            body={"any": ["json", 1, None, {"nested": True}]},
        ),
    ),
    ("api string body", api(method="PUT", body="raw text")),
    ("wait zero", wait(0)),
    ("wait maximum", wait(MAX_WAIT)),
    ("wait integral float", wait(5.0)),
    ("wait template", wait("{{trigger.ms}}")),
    ("wait spaced template", wait("{{ variables.delay.ms }}")),
    ("condition templated value", cond(operator="equals", value="{{variables.plan}}")),
    ("condition step path", cond(field="steps.action-1.output.notificationSent")),
    ("condition unary with value", cond(operator="not_exists", value=1)),
    ("condition object value", cond(operator="contains", value={"a": [1]})),
    ("action every field", {**note(), "name": "Greet", "onError": "retry", "timeout": 1}),
    ("config at the cap", padded(api(), MAX_CONFIG, key="body")),
]


@pytest.mark.parametrize(("case", "action"), GOOD, ids=[c for c, _ in GOOD])
async def test_good_actions_are_stored_as_sent(client, tokens, case, action):
    response = await client.post(
        f"{WS}/workflows", json=workflow_body(notify(), action), headers=tokens.headers()
    )
    assert response.status_code == 201, response.text
    stored = response.json()["workflow"]["actions"][1]
    assert stored["config"] == action["config"]
    assert stored["type"] == action["type"]


async def test_good_actions_over_graphql(client, tokens, free_form):
    actions = [a for _, a in GOOD] + [{"type": free_form, "config": {"anything": {"goes": 1}}}]
    answer = await graphql(
        client,
        """mutation($input: WorkflowInput!) { createWorkflow(workspaceSlug: "acme",
             input: $input) { actions { config } } }""",
        tokens.headers(),
        input={"name": "x", "actions": as_graphql(actions)},
    )
    assert "errors" not in answer, answer["errors"]
    configs = [a["config"] for a in answer["data"]["createWorkflow"]["actions"]]
    assert configs == [a["config"] for a in actions]


async def test_integral_timeout_is_stored_as_an_integer(client, tokens):
    workflow = await create_workflow(client, tokens.headers(), {**note(), "timeout": 1500.0})
    read = await client.get(f"{WS}/workflows/{workflow['id']}", headers=tokens.headers())
    timeout = read.json()["workflow"]["actions"][0]["timeout"]
    assert (timeout, type(timeout)) == (1500, int)


async def run(client, tokens, action: dict[str, Any], **trigger: Any) -> dict[str, Any]:
    workflow = await create_workflow(client, tokens.headers(), action, notify("after"))
    response = await client.post(
        f"{WS}/workflows/{workflow['id']}/execute",
        json={"wait": True, "triggerData": trigger},
        headers=tokens.headers(),
    )
    assert response.status_code == 201, response.text
    return response.json()["execution"]


@pytest.mark.parametrize(("value", "waited"), [(3, 3), (3.0, 3)], ids=["integer", "integral float"])
async def test_templated_duration_runs(client, tokens, value, waited):
    execution = await run(client, tokens, wait("{{trigger.ms}}"), ms=value)
    assert execution["status"] == "COMPLETED"
    assert execution["steps"][0]["output"] == {"waitedMs": waited, "durationMs": waited}


RENDERED_WRONG: list[tuple[str, dict[str, Any], Any, str]] = [
    ("wait fraction", wait("{{trigger.v}}"), 1.5, "durationMs rendered to an invalid value"),
    ("wait text", wait("{{trigger.v}}"), "5", "durationMs rendered to an invalid value"),
    ("wait boolean", wait("{{trigger.v}}"), True, "durationMs rendered to an invalid value"),
    ("wait too long", wait("{{trigger.v}}"), MAX_WAIT + 1, "durationMs rendered to an invalid"),
    (
        "message object",
        note(message="{{trigger.v}}"),
        {"a": 1},
        "message rendered to an object, not text",
    ),
    ("message null", note(message="{{trigger.v}}"), None, "message rendered empty"),
    (
        "recipient list",
        note(recipient="{{trigger.v}}"),
        [1],
        "recipient rendered to a list, not text",
    ),
    (
        "recipient too long",
        note(recipient="{{trigger.v}}"),
        "r" * 201,
        "recipient rendered to 201 characters, more than 200",
    ),
    (
        "assignee too long",
        task(assignedTo="{{trigger.v}}"),
        "a" * 300,
        "assignedTo rendered to 300 characters, more than 200",
    ),
    ("title boolean", task(title="{{trigger.v}}"), False, "title rendered to a boolean"),
    ("priority enum", task(priority="{{trigger.v}}"), "SOON", "priority 'SOON' is not one of"),
    ("url null", api(url="{{trigger.v}}"), None, "url rendered to null, not text"),
    (
        "header object",
        api(headers={"X-Id": "{{trigger.v}}"}),
        {"id": 1},
        "headers.X-Id rendered to an object, not text",
    ),
]


@pytest.mark.parametrize(
    ("case", "action", "value", "error"), RENDERED_WRONG, ids=[c for c, *_ in RENDERED_WRONG]
)
async def test_rendered_value_of_the_wrong_type_fails_its_step(
    client, tokens, case, action, value, error
):
    execution = await run(client, tokens, action, v=value)
    assert execution["status"] == "FAILED"
    assert execution["error"].startswith(f"Action action-1 failed: {error}")
    first, after = execution["steps"]
    assert (first["status"], after["status"]) == ("failed", "skipped")
    assert await Task.all().count() == 0
    assert await Notification.all().count() == 0


async def test_rendered_numbers_are_text(client, tokens):
    execution = await run(
        client, tokens, task(title="{{trigger.n}}", assignedTo="{{trigger.n}}"), n=42
    )
    assert execution["status"] == "COMPLETED", execution["error"]
    stored = await Task.get(id=execution["steps"][0]["output"]["taskId"])
    assert (stored.title, stored.assigned_to) == ("42", "42")
