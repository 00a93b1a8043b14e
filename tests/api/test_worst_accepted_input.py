"""The largest and deepest input the API accepts is stored and read back unchanged through
every surface that shows it: nothing is stored that cannot be read back."""

from __future__ import annotations

import json
from typing import Any

import pytest

import runcast
from runcast.engine.actions.base import ActionResult
from runcast.engine.actions.registry import unregister_action_handler
from runcast.jsonsafe import MAX_DEPTH, json_size
from runcast.resolvers.executions import MAX_INPUT_BYTES
from tests.helpers import WS, create_workflow, graphql
from tests.streams.support import sse_events

FIELDS = "id triggerData variables steps { actionId status output }"


def deepest(depth: int) -> Any:
    """An object `depth` levels deep, with a list and a unicode string at the bottom."""
    value: Any = ["ü€😀", 1.5, -(2**53), None, True]
    for level in range(depth - 1):
        value = {f"k{level}": value}
    return value


def worst_object(filler_key: str) -> dict[str, Any]:
    """A JSON object as deep as accepted and just under the size limit."""
    value = deepest(MAX_DEPTH)
    value[filler_key] = ""
    value[filler_key] = "é" * ((MAX_INPUT_BYTES - json_size(value)) // 2)
    assert MAX_INPUT_BYTES - 2 <= json_size(value) <= MAX_INPUT_BYTES
    return value


@pytest.fixture
def echo_action() -> Any:
    """A custom action whose output is the deepest, largest object accepted."""

    async def echo(action: dict, context: object) -> ActionResult:
        return ActionResult(True, output=worst_object("filler"))

    runcast.register_action_handler("echo_worst", echo)
    yield "echo_worst"
    unregister_action_handler("echo_worst")


async def test_the_worst_accepted_input_reads_back_everywhere(client, tokens, live, echo_action):
    headers = tokens.headers()
    workflow = await create_workflow(client, headers, {"type": echo_action, "config": {}})
    trigger_data, variables = worst_object("t"), worst_object("v")
    answer = await client.post(
        f"{WS}/workflows/{workflow['id']}/execute",
        json={"triggerData": trigger_data, "variables": variables, "wait": True},
        headers=headers,
    )
    assert answer.status_code == 201, answer.text[:500]
    execution = answer.json()["execution"]
    assert execution["status"] == "COMPLETED"
    output = worst_object("filler")

    def same(seen: dict[str, Any]) -> None:
        assert seen["triggerData"] == trigger_data
        assert seen["variables"] == variables

    same(execution)
    status = await client.get(f"{WS}/workflows/executions/{execution['id']}", headers=headers)
    same(status.json()["execution"])
    assert status.json()["execution"]["steps"][0]["output"] == output
    listing = await client.get(f"{WS}/workflows/{workflow['id']}/executions", headers=headers)
    (listed,) = listing.json()["executions"]
    same(listed)
    history = await client.get(
        f"{WS}/workflows/{workflow['id']}/history",
        params={"executionId": execution["id"]},
        headers=headers,
    )
    same(history.json()["execution"])

    one = await graphql(
        client,
        f'query($id: ID!) {{ execution(workspaceSlug: "acme", id: $id) {{ {FIELDS} }} }}',
        headers,
        id=execution["id"],
    )
    same(one["data"]["execution"])
    assert one["data"]["execution"]["steps"][0]["output"] == output
    page = await graphql(
        client,
        '{ executions(workspaceSlug: "acme", first: 1) '
        "{ edges { node { id triggerData variables } } } }",
        headers,
    )
    assert "errors" not in page, page["errors"]
    same(page["data"]["executions"]["edges"][0]["node"])

    events = [e async for e in sse_events(live, tokens.admin, execution["id"])]
    step = next(e for e in events if e.type == "step")
    assert step.data["output"] == output
    assert events[-1].type == "complete"
    assert json.loads(json.dumps(step.data)) == step.data


async def test_one_level_deeper_is_refused_everywhere_it_comes_in(client, tokens):
    headers = tokens.headers()
    workflow = await create_workflow(client, headers)
    too_deep = {"a": deepest(MAX_DEPTH)}
    rest = await client.post(
        f"{WS}/workflows/{workflow['id']}/execute", json={"triggerData": too_deep}, headers=headers
    )
    assert rest.status_code == 400
    assert rest.json()["error"]["code"] == "VALIDATION_ERROR"
    mutation = """
        mutation($id: ID!, $data: JSON) {
          executeWorkflow(workspaceSlug: "acme", workflowId: $id, input: {variables: $data}) { id }
        }
    """
    answer = await graphql(client, mutation, headers, id=workflow["id"], data=too_deep)
    assert answer["errors"][0]["extensions"]["code"] == "VALIDATION_ERROR"
    listed = await client.get(f"{WS}/workflows/{workflow['id']}/executions", headers=headers)
    assert listed.json()["executions"] == []
