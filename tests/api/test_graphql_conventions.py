"""The schema's conventions (API.md, GraphQL): `ID` identifiers, the `DateTime` scalar with
REST's text, enums for closed sets, typed statistics."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import WS, create_workflow, graphql, notify

WAIT_FAIL = {"type": "wait", "config": {"durationMs": "{{trigger.bad}}"}, "onError": "continue"}

READ = """
query($id: ID!) {
  execution(workspaceSlug: "acme", id: $id) {
    id workflowId workspaceId triggeredBy status triggerType startedAt completedAt
    steps { actionId status startedAt completedAt }
    timing { startedAt completedAt }
    workflow { id status }
  }
}
"""

FIELD_TYPES = """
query($name: String!) {
  __type(name: $name) {
    fields { name type { kind name ofType { kind name } } }
  }
}
"""


def named(field: dict[str, Any]) -> str:
    kind = field["type"]
    return kind["name"] or kind["ofType"]["name"]


async def field_types(client, headers, name: str) -> dict[str, str]:
    found = await graphql(client, FIELD_TYPES, headers, name=name)
    return {field["name"]: named(field) for field in found["data"]["__type"]["fields"]}


async def run(client, tokens, *actions: dict[str, Any]) -> str:
    workflow = await create_workflow(client, tokens.headers(), *actions)
    started = await client.post(
        f"{WS}/workflows/{workflow['id']}/execute", json={"wait": True}, headers=tokens.headers()
    )
    assert started.status_code == 201, started.text
    return started.json()["execution"]["id"]


async def test_ids_and_timestamps_read_as_rest_sends_them(client, tokens):
    execution_id = await run(client, tokens, notify(), WAIT_FAIL)
    rest = (
        await client.get(f"{WS}/workflows/executions/{execution_id}", headers=tokens.headers())
    ).json()
    answer = await graphql(client, READ, tokens.headers(), id=execution_id)
    assert "errors" not in answer, answer
    execution = answer["data"]["execution"]
    sent = rest["execution"]
    for name in ("id", "workflowId", "workspaceId", "triggeredBy", "startedAt", "completedAt"):
        assert execution[name] == sent[name], name
    assert execution["completedAt"].endswith("Z")
    assert execution["timing"] == {
        "startedAt": rest["timing"]["startedAt"],
        "completedAt": rest["timing"]["completedAt"],
    }
    assert [
        {"actionId": s["actionId"], "startedAt": s["startedAt"], "completedAt": s["completedAt"]}
        for s in execution["steps"]
    ] == [
        {"actionId": s["actionId"], "startedAt": s["startedAt"], "completedAt": s["completedAt"]}
        for s in sent["steps"]
    ]
    # Enums by their members' names; REST sends their values.
    assert [s["status"] for s in sent["steps"]] == ["success", "failed"]
    assert [s["status"] for s in execution["steps"]] == ["SUCCESS", "FAILED"]
    assert (sent["triggerType"], execution["triggerType"]) == ("manual", "MANUAL")
    assert execution["status"] == sent["status"] == "COMPLETED"
    assert execution["workflow"] == {"id": sent["workflowId"], "status": "ACTIVE"}


async def test_workflow_timestamps_and_enums(client, tokens):
    created = await create_workflow(client, tokens.headers(), {**notify(), "onError": "retry"})
    answer = await graphql(
        client,
        """query($id: ID!) { workflow(workspaceSlug: "acme", id: $id) {
             id createdAt updatedAt status actions { id onError } } }""",
        tokens.headers(),
        id=created["id"],
    )
    workflow = answer["data"]["workflow"]
    assert workflow == {
        "id": created["id"],
        "createdAt": created["createdAt"],
        "updatedAt": created["updatedAt"],
        "status": "ACTIVE",
        "actions": [{"id": f"{created['id']}:action-1", "onError": "RETRY"}],
    }


async def test_the_schema_types_identifiers_timestamps_and_closed_sets(client, tokens):
    headers = tokens.headers()
    execution = await field_types(client, headers, "Execution")
    for name in ("id", "workflowId", "workspaceId", "triggeredBy"):
        assert execution[name] == "ID", name
    assert (execution["startedAt"], execution["completedAt"]) == ("DateTime", "DateTime")
    assert (execution["status"], execution["triggerType"]) == ("ExecutionStatus", "TriggerType")
    step = await field_types(client, headers, "Step")
    assert (step["actionId"], step["status"], step["startedAt"]) == (
        "ID",
        "StepStatus",
        "DateTime",
    )
    workflow = await field_types(client, headers, "Workflow")
    assert (workflow["id"], workflow["status"], workflow["createdAt"]) == (
        "ID",
        "WorkflowStatus",
        "DateTime",
    )
    assert (await field_types(client, headers, "Action"))["onError"] == "OnError"
    assert (await field_types(client, headers, "Task"))["status"] == "TaskStatus"
    assert (await field_types(client, headers, "Membership"))["role"] == "Role"
    statistics = await field_types(client, headers, "ExecutionStatistics")
    assert statistics["byStatus"] == "StatusCounts"
    counts = await field_types(client, headers, "StatusCounts")
    assert counts == dict.fromkeys(
        ["pending", "running", "completed", "failed", "cancelled"], "Int"
    )


async def test_statistics_count_every_status(client, tokens):
    first = await run(client, tokens, notify())
    second = await run(client, tokens, notify())
    answer = await graphql(
        client,
        """{ executions(workspaceSlug: "acme") { statistics {
             total byStatus { pending running completed failed cancelled } } } }""",
        tokens.headers(),
    )
    assert first != second
    assert answer["data"]["executions"]["statistics"] == {
        "total": 2,
        "byStatus": {"pending": 0, "running": 0, "completed": 2, "failed": 0, "cancelled": 0},
    }


async def test_me_names_roles_by_the_enum(client, tokens):
    answer = await graphql(
        client, "{ me { id memberships { workspaceId workspaceSlug role } } }", tokens.headers()
    )
    me = answer["data"]["me"]
    assert me["id"].startswith("usr_")
    [membership] = [m for m in me["memberships"] if m["workspaceSlug"] == "acme"]
    assert membership["role"] in {"VIEWER", "EDITOR", "ADMIN", "OWNER"}
    assert membership["workspaceId"].startswith("ws_")


@pytest.mark.parametrize(
    ("query", "variables"),
    [
        (
            'mutation($input: WorkflowInput!) { createWorkflow(workspaceSlug: "acme", '
            "input: $input) { id } }",
            {"input": {"name": "x", "status": "PAUSED", "actions": [notify()]}},
        ),
        (
            'mutation($input: WorkflowInput!) { createWorkflow(workspaceSlug: "acme", '
            "input: $input) { id } }",
            {"input": {"name": "x", "actions": [{**notify(), "onError": "stop"}]}},
        ),
        ('{ executions(workspaceSlug: "acme", filter: {status: [DONE]}) { totalCount } }', {}),
        (
            'mutation { createWorkflow(workspaceSlug: "acme", input: {name: "x", status: "ACTIVE",'
            " actions: []}) { id } }",
            {},
        ),
        ('query($id: ID!) { workflow(workspaceSlug: "acme", id: $id) { id } }', {"id": [1]}),
    ],
    ids=["variable", "nested variable", "literal", "string for enum", "list for ID"],
)
async def test_a_bad_enum_or_id_is_a_validation_error(client, tokens, query, variables):
    response = await client.post(
        "/graphql", json={"query": query, "variables": variables}, headers=tokens.headers()
    )
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["data"] is None
    assert [e["extensions"]["code"] for e in answer["errors"]] == ["VALIDATION_ERROR"]
    listed = await client.get(f"{WS}/workflows", headers=tokens.headers())
    assert listed.json()["workflows"] == []
