"""Execution answers: one consistent instant, the same fields on REST and GraphQL, and
idempotency keys bound to the request they were first used with."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from runcast.models import Execution
from tests.helpers import WS, as_graphql, create_workflow, graphql

NOTE = {"type": "send_notification", "config": {"message": "m"}}
FINAL_STEPS = {"success", "failed", "skipped", "cancelled"}
FINAL_EXECUTIONS = {"COMPLETED", "FAILED", "CANCELLED"}

EXECUTE = """
mutation($wf: ID!, $input: ExecuteInput) {
  executeWorkflow(workspaceSlug: "acme", workflowId: $wf, input: $input) {
    id status steps { status startedAt }
    progress { totalSteps completedSteps successfulSteps failedSteps runningSteps percentage }
    timing { isRunning completedAt }
  }
}
"""

TYPE_FIELDS = """
query($name: String!) {
  __type(name: $name) {
    fields {
      name
      type { kind name ofType { kind name ofType { kind name ofType { kind name } } } }
    }
  }
}
"""


def assert_consistent(status: str, steps: list[dict[str, Any]]) -> None:
    """What one instant of an execution can look like: steps finish in order, at most one
    runs, none runs before its execution does, and a finished execution has no open step."""
    statuses = [s["status"] for s in steps]
    done = 0
    while done < len(statuses) and statuses[done] in FINAL_STEPS:
        done += 1
    rest = statuses[done:]
    if status == "PENDING":
        assert statuses == ["pending"] * len(statuses), (status, statuses)
        assert all(s["startedAt"] is None for s in steps)
    elif status == "RUNNING":
        assert rest in ([], ["running", *["pending"] * (len(rest) - 1)], ["pending"] * len(rest))
        assert done < len(statuses), (status, statuses)
    else:
        assert status in FINAL_EXECUTIONS
        assert rest == [], (status, statuses)


async def test_execute_answers_are_one_instant(client, tokens):
    workflow = await create_workflow(client, tokens.headers(), NOTE, NOTE, NOTE)
    url = f"{WS}/workflows/{workflow['id']}/execute"

    async def rest() -> None:
        response = await client.post(url, json={}, headers=tokens.headers("editor"))
        assert response.status_code == 201
        execution = response.json()["execution"]
        assert_consistent(execution["status"], execution["steps"])

    async def over_graphql() -> None:
        data = await graphql(client, EXECUTE, tokens.headers("editor"), wf=workflow["id"])
        execution = data["data"]["executeWorkflow"]
        # GraphQL names a step status by its enum member: SUCCESS for REST's success.
        steps = [{**s, "status": s["status"].lower()} for s in execution["steps"]]
        progress = execution["progress"]
        assert_consistent(execution["status"], steps)
        statuses = [s["status"] for s in steps]
        finished = execution["status"] in FINAL_EXECUTIONS
        assert progress["completedSteps"] == sum(s in FINAL_STEPS for s in statuses)
        assert progress["runningSteps"] == statuses.count("running")
        assert progress["successfulSteps"] == statuses.count("success")
        expected = 100 if finished else round(100 * progress["completedSteps"] / 3)
        assert progress["percentage"] == expected
        assert execution["timing"]["isRunning"] is not finished

    for _ in range(5):
        await asyncio.gather(*(rest() for _ in range(10)), *(over_graphql() for _ in range(10)))


# An execution's `workflow` is the whole Workflow on GraphQL; REST shows these fields of it.
WORKFLOW_ON_REST = "id name description trigger status"


def selection(types: dict[str, list[dict[str, Any]]], name: str) -> str:
    """Every field of the GraphQL object type `name`, nested objects included."""
    parts = []
    for field in types[name]:
        kind = field["type"]
        while kind["kind"] in ("NON_NULL", "LIST"):
            kind = kind["ofType"]
        if kind["name"] == "Workflow":
            parts.append(f"{field['name']} {{ {WORKFLOW_ON_REST} }}")
        elif kind["kind"] == "OBJECT":
            parts.append(f"{field['name']} {{ {selection(types, kind['name'])} }}")
        else:
            parts.append(field["name"])
    return " ".join(parts)


def _leaf(field: dict[str, Any]) -> bool:
    kind = field["type"]
    while kind["kind"] in ("NON_NULL", "LIST"):
        kind = kind["ofType"]
    return kind["kind"] in ("SCALAR", "ENUM")


async def schema_types(client: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, Any]:
    names = [
        "Execution",
        "Step",
        "Progress",
        "Timing",
        "ExecutionSummary",
        "ExecutionStatistics",
        "StatusCounts",
    ]
    types = {}
    for name in names:
        found = await graphql(client, TYPE_FIELDS, headers, name=name)
        types[name] = found["data"]["__type"]["fields"]
    return types


async def test_rest_and_graphql_carry_the_same_fields_nulls_included(client, tokens):
    types = await schema_types(client, tokens.headers())
    ok = await create_workflow(client, tokens.headers(), NOTE, NOTE)
    failing = await create_workflow(
        client,
        tokens.headers(),
        NOTE,
        {"type": "wait", "config": {"durationMs": "{{trigger.bad}}"}},
        NOTE,
    )
    fields = selection(types, "Execution")
    read = f'query($id: ID!) {{ execution(workspaceSlug: "acme", id: $id) {{ {fields} }} }}'
    for workflow in (ok, failing):
        started = await client.post(
            f"{WS}/workflows/{workflow['id']}/execute",
            json={"wait": True},
            headers=tokens.headers("editor"),
        )
        execution_id = started.json()["execution"]["id"]
        rest = (
            await client.get(f"{WS}/workflows/executions/{execution_id}", headers=tokens.headers())
        ).json()
        over_graphql = await graphql(client, read, tokens.headers(), id=execution_id)
        rest_view = {**rest["execution"], "progress": rest["progress"], "timing": rest["timing"]}
        assert over_graphql["data"]["execution"] == as_graphql(rest_view)
        # The execute answer carries the same execution and step fields as the status read.
        answered = started.json()["execution"]
        assert set(answered) == set(rest["execution"]) - {"workflow", "executionSummary"}
        assert [set(s) for s in answered["steps"]] == [set(s) for s in rest_view["steps"]]

    assert rest_view["errorCode"] == "EXECUTION_FAILED"
    assert [s["status"] for s in rest_view["steps"]] == ["success", "failed", "skipped"]
    assert isinstance(rest_view["steps"][1]["error"], str)
    assert rest_view["steps"][0]["error"] is None
    assert rest_view["steps"][2]["error"] is None

    # A listing's node: every field REST's listing items carry, their workflow as id and name.
    scalars = [f["name"] for f in types["Execution"] if _leaf(f)]
    node = " ".join(scalars) + " workflow { id name }"
    statistics = selection(types, "ExecutionStatistics")
    listing = (
        'query($wf: ID) { executions(workspaceSlug: "acme", filter: {workflowId: $wf}) { '
        f"edges {{ node {{ {node} }} }} pageInfo {{ hasNextPage }} totalCount "
        f"statistics {{ {statistics} }} }} }}"
    )
    for workflow in (ok, failing):
        rest_list = (
            await client.get(
                f"{WS}/workflows/{workflow['id']}/executions", headers=tokens.headers()
            )
        ).json()
        graphql_list = (await graphql(client, listing, tokens.headers(), wf=workflow["id"]))[
            "data"
        ]["executions"]
        assert [e["node"] for e in graphql_list["edges"]] == as_graphql(rest_list["executions"])
        assert graphql_list["statistics"] == as_graphql(rest_list["statistics"])
        assert graphql_list["totalCount"] == rest_list["pagination"]["total"]
        assert graphql_list["pageInfo"]["hasNextPage"] is rest_list["pagination"]["hasMore"]
        assert set(rest_list["executions"][0]) == {*scalars, "workflow"}
        assert "errorCode" in rest_list["executions"][0]


async def execute_with_key(
    client: httpx.AsyncClient, headers: dict[str, str], workflow_id: str, key: str, body: Any
) -> httpx.Response:
    return await client.post(
        f"{WS}/workflows/{workflow_id}/execute",
        json=body,
        headers={**headers, "Idempotency-Key": key},
    )


async def test_an_idempotency_key_is_bound_to_its_request(client, tokens):
    workflow = await create_workflow(client, tokens.headers(), NOTE)
    editor = tokens.headers("editor")
    body = {"triggerData": {"user": "u1", "plan": "pro"}, "variables": {"v": [1, 2]}}
    first = await execute_with_key(client, editor, workflow["id"], "order-1", body)
    assert first.status_code == 201
    execution_id = first.json()["execution"]["id"]

    # The same request (keys in another order, `wait` added) returns the first execution.
    same = {"variables": {"v": [1, 2]}, "triggerData": {"plan": "pro", "user": "u1"}, "wait": True}
    again = await execute_with_key(client, editor, workflow["id"], "order-1", same)
    assert again.status_code == 201
    assert again.json()["execution"]["id"] == execution_id

    for other in (
        {**body, "triggerData": {"user": "u2", "plan": "pro"}},
        {**body, "variables": {}},
        {**body, "dryRun": True},
        {},
    ):
        reused = await execute_with_key(client, editor, workflow["id"], "order-1", other)
        assert reused.status_code == 409, reused.text
        assert reused.json()["error"]["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert await Execution.filter(workflow_id=workflow["id"]).count() == 1

    mutation = """
    mutation($wf: ID!, $input: ExecuteInput) {
      executeWorkflow(workspaceSlug: "acme", workflowId: $wf, input: $input) { id }
    }"""
    graphql_same = await graphql(
        client, mutation, editor, wf=workflow["id"], input={**body, "idempotencyKey": "order-1"}
    )
    assert graphql_same["data"]["executeWorkflow"]["id"] == execution_id
    graphql_other = await graphql(
        client,
        mutation,
        editor,
        wf=workflow["id"],
        input={"triggerData": {"user": "u3"}, "idempotencyKey": "order-1"},
    )
    assert graphql_other["data"] is None
    assert graphql_other["errors"][0]["extensions"]["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert await Execution.filter(workflow_id=workflow["id"]).count() == 1


async def test_concurrent_reuse_of_a_key_stores_one_execution(client, tokens):
    workflow = await create_workflow(client, tokens.headers(), NOTE)
    editor = tokens.headers("editor")
    bodies = [{"triggerData": {"n": n % 2}} for n in range(6)]
    responses = await asyncio.gather(
        *(execute_with_key(client, editor, workflow["id"], "race", body) for body in bodies)
    )
    created = [r for r in responses if r.status_code == 201]
    refused = [r for r in responses if r.status_code == 409]
    assert len(created) + len(refused) == len(bodies)
    assert len({r.json()["execution"]["id"] for r in created}) == 1
    assert {r.json()["error"]["code"] for r in refused} <= {"IDEMPOTENCY_KEY_REUSED"}
    winner = created[0].json()["execution"]["triggerData"]
    sent = [body["triggerData"] for body in bodies]
    assert [r.status_code for r in responses] == [201 if t == winner else 409 for t in sent]
    assert await Execution.filter(workflow_id=workflow["id"]).count() == 1
