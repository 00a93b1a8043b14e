"""GraphQL `node`/`nodes`, `workspace` and nesting: any object by its global id under the
direct queries' access rules, and a page of executions with their workflows and steps in
a fixed number of SQL statements."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest

from runcast.bootstrap import create_token
from runcast.models import Role
from tests.api.test_history import expected_statistics, seeded_workflow
from tests.helpers import WS, as_graphql, create_workflow, graphql, notify, workflow_body

QUIET = pytest.mark.settings(poll_seconds=3600.0, schedule_poll_seconds=3600.0)
"""No background polls while a test counts the statements of its requests."""

TASK = {"type": "create_task", "config": {"title": "Call {{trigger.userId}}"}}

NODE = """
query($id: ID!) {
  node(id: $id) {
    __typename id
    ... on Workflow { name workspaceId actions { id actionId type } }
    ... on Execution { status workflow { id name } steps { actionId status } }
    ... on Task { title executionId }
    ... on Notification { message executionId }
    ... on Workspace { slug name role }
  }
}
"""

NODES = """
query($ids: [ID!]!) { nodes(ids: $ids) { __typename id } }
"""


def codes_at(answer: dict[str, Any]) -> list[tuple[list[Any], str]]:
    return [(e["path"], e["extensions"]["code"]) for e in answer.get("errors", [])]


async def executed(client: httpx.AsyncClient, tokens: Any) -> dict[str, Any]:
    """A finished execution of a workflow that left a notification and a task behind."""
    workflow = await create_workflow(client, tokens.headers(), notify(), TASK)
    response = await client.post(
        f"{WS}/workflows/{workflow['id']}/execute",
        json={"wait": True, "triggerData": {"userId": "u1"}},
        headers=tokens.headers("editor"),
    )
    assert response.status_code == 201, response.text
    execution = response.json()["execution"]
    assert execution["status"] == "COMPLETED"
    outputs = await graphql(
        client,
        '{ tasks(workspaceSlug: "acme") { id } notifications(workspaceSlug: "acme") { id } }',
        tokens.headers("viewer"),
    )
    return {
        "workflow": workflow,
        "execution": execution,
        "task": outputs["data"]["tasks"][0]["id"],
        "notification": outputs["data"]["notifications"][0]["id"],
    }


async def test_node_resolves_every_kind_by_its_prefix(client, tokens):
    made = await executed(client, tokens)
    workflow, execution = made["workflow"], made["execution"]
    viewer = tokens.headers("viewer")

    async def node(node_id: str) -> dict[str, Any]:
        answer = await graphql(client, NODE, viewer, id=node_id)
        assert "errors" not in answer, answer["errors"]
        return dict(answer["data"]["node"])

    assert await node(workflow["id"]) == {
        "__typename": "Workflow",
        "id": workflow["id"],
        "name": "Onboarding",
        "workspaceId": workflow["workspaceId"],
        "actions": [
            {
                "id": f"{workflow['id']}:action-1",
                "actionId": "action-1",
                "type": "send_notification",
            },
            {"id": f"{workflow['id']}:action-2", "actionId": "action-2", "type": "create_task"},
        ],
    }
    assert await node(execution["id"]) == {
        "__typename": "Execution",
        "id": execution["id"],
        "status": "COMPLETED",
        "workflow": {"id": workflow["id"], "name": "Onboarding"},
        "steps": [
            {"actionId": "action-1", "status": "SUCCESS"},
            {"actionId": "action-2", "status": "SUCCESS"},
        ],
    }
    task = await node(made["task"])
    assert task == {
        "__typename": "Task",
        "id": made["task"],
        "title": "Call u1",
        "executionId": execution["id"],
    }
    notification = await node(made["notification"])
    assert notification["__typename"] == "Notification"
    assert notification["executionId"] == execution["id"]
    assert await node(workflow["workspaceId"]) == {
        "__typename": "Workspace",
        "id": workflow["workspaceId"],
        "slug": "acme",
        "name": "acme",
        "role": "VIEWER",
    }


async def test_another_workspaces_objects_are_not_found(client, tokens):
    made = await executed(client, tokens)
    ids = [
        made["workflow"]["id"],
        made["execution"]["id"],
        made["task"],
        made["notification"],
        made["workflow"]["workspaceId"],
    ]
    outsider = tokens.headers("outsider")
    for node_id in ids:
        answer = await graphql(client, NODE, outsider, id=node_id)
        assert answer["data"] == {"node": None}
        assert codes_at(answer) == [(["node"], "NOT_FOUND")]
        assert node_id not in str(answer["errors"][0]["extensions"])

    listed = await graphql(client, NODES, outsider, ids=ids)
    assert listed["data"] == {"nodes": [None] * len(ids)}
    assert codes_at(listed) == [(["nodes", i], "NOT_FOUND") for i in range(len(ids))]


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "x",
        "wf_",
        "_abc",
        "zz_0123456789abcdef01234567",
        "usr_0123456789abcdef01234567",
        "wf_" + "a" * 200,
        "exec_!?*",
        "exec_ünï",
        "wf_0123456789abcdef01234567",
    ],
)
async def test_malformed_or_unknown_ids_are_not_found(client, tokens, bad):
    answer = await graphql(client, NODE, tokens.headers("viewer"), id=bad)
    assert answer["data"] == {"node": None}
    assert codes_at(answer) == [(["node"], "NOT_FOUND")]


async def test_nodes_keeps_the_order_and_reports_each_missing_id(client, tokens):
    made = await executed(client, tokens)
    ids = [made["execution"]["id"], "exec_missing", made["workflow"]["id"], made["task"]]
    answer = await graphql(client, NODES, tokens.headers("viewer"), ids=ids)
    assert answer["data"]["nodes"] == [
        {"__typename": "Execution", "id": ids[0]},
        None,
        {"__typename": "Workflow", "id": ids[2]},
        {"__typename": "Task", "id": ids[3]},
    ]
    assert codes_at(answer) == [(["nodes", 1], "NOT_FOUND")]


async def test_nodes_refuses_more_than_a_hundred_ids(client, tokens):
    allowed = await graphql(client, NODES, tokens.headers("viewer"), ids=["wf_x"] * 100)
    assert allowed["data"]["nodes"] == [None] * 100
    refused = await graphql(client, NODES, tokens.headers("viewer"), ids=["wf_x"] * 101)
    assert refused["data"] is None
    assert codes_at(refused) == [(["nodes"], "VALIDATION_ERROR")]


async def test_node_needs_a_token(client, tokens):
    answer = await graphql(client, NODE, {}, id="wf_x")
    assert answer["data"] == {"node": None}
    assert codes_at(answer) == [(["node"], "UNAUTHORIZED")]


WORKSPACE = """
query($slug: String!) {
  workspace(slug: $slug) {
    id slug name role
    workflows { id name statistics { total successRate averageDurationMs p50DurationMs
      p95DurationMs byStatus { pending running completed failed cancelled } } }
  }
}
"""


async def test_workspace_nests_its_workflows_with_their_statistics(client, tokens):
    busy, rows = await seeded_workflow(client, tokens, count=120)
    idle = await create_workflow(client, tokens.headers(), name="Idle")
    answer = await graphql(client, WORKSPACE, tokens.headers("editor"), slug="acme")
    assert "errors" not in answer, answer["errors"]
    workspace = answer["data"]["workspace"]
    assert {k: workspace[k] for k in ("id", "slug", "name", "role")} == {
        "id": busy["workspaceId"],
        "slug": "acme",
        "name": "acme",
        "role": "EDITOR",
    }
    shown = {w["id"]: w["statistics"] for w in workspace["workflows"]}
    assert shown[busy["id"]] == as_graphql(expected_statistics(rows))
    assert shown[idle["id"]] == as_graphql(expected_statistics([]))
    rest = await client.get(
        f"{WS}/workflows/{busy['id']}/executions", headers=tokens.headers("viewer")
    )
    assert shown[busy["id"]] == as_graphql(rest.json()["statistics"])

    by_id = await graphql(client, WORKSPACE, tokens.headers("viewer"), slug=busy["workspaceId"])
    assert by_id["data"]["workspace"]["role"] == "VIEWER"
    for slug, code in [("other", "FORBIDDEN"), ("nowhere", "WORKSPACE_NOT_FOUND")]:
        refused = await graphql(client, WORKSPACE, tokens.headers("viewer"), slug=slug)
        assert refused["data"] is None
        assert codes_at(refused) == [(["workspace"], code)]


PAGE = """
query($ids: [ID!]!) {
  nodes(ids: $ids) {
    ... on Execution {
      id status
      workflow { id name actions { id } statistics { total } }
      steps { actionId status }
      progress { totalSteps completedSteps }
      executionSummary { totalSteps }
    }
  }
}
"""


@QUIET
async def test_a_page_of_executions_with_workflows_and_steps_is_a_fixed_number_of_statements(
    client, tokens, caplog
):
    _, rows = await seeded_workflow(client, tokens, count=60, seed_=3)
    _, more = await seeded_workflow(client, tokens, name="Second", count=60, seed_=4)
    viewer = tokens.headers("viewer")

    async def statements(ids: list[str]) -> int:
        caplog.clear()
        caplog.set_level(logging.DEBUG, logger="tortoise.db_client")
        caplog.set_level(logging.DEBUG, logger="runcast.sql")
        answer = await graphql(client, PAGE, viewer, ids=ids)
        assert "errors" not in answer, answer["errors"]
        for shown, row in zip(answer["data"]["nodes"], chosen, strict=False):
            assert shown["id"] == row.id
            assert [s["status"] for s in shown["steps"]] == [s.upper() for s in row.steps]
            assert shown["progress"]["totalSteps"] == len(row.steps)
            assert shown["workflow"]["id"] == row.workflow_id
        return sum(1 for r in caplog.records if "SELECT" in r.getMessage().upper())

    chosen = [*rows, *more][::-1][:100]
    hundred = await statements([row.id for row in chosen])
    chosen = chosen[:4]
    four = await statements([row.id for row in chosen])
    assert hundred == four
    # token, executions, their workflows, steps, the workflows' counts and percentiles
    assert hundred <= 6, hundred


async def test_nodes_costs_as_many_items_as_it_may_answer(client, tokens):
    """A hundred workflows with their trigger and action configs (open JSON) cost more than
    an operation may; counted at the ten items an uncapped list is assumed to hold, they
    would not."""
    query = """query($ids: [ID!]!) {
      nodes(ids: $ids) { ... on Workflow { trigger actions { config } } }
    }"""
    answer = await graphql(client, query, tokens.headers("viewer"), ids=["wf_x"])
    assert answer["data"] is None
    assert [e["extensions"]["code"] for e in answer["errors"]] == ["VALIDATION_ERROR"]
    assert "cost" in answer["errors"][0]["message"].lower()


WORKSPACES = """
query($ids: [ID!]!) {
  nodes(ids: $ids) { ... on Workspace { slug role workflows { name workspaceId } } }
}
"""


async def workflow_in(
    client: httpx.AsyncClient, token: str, slug: str, name: str
) -> dict[str, Any]:
    response = await client.post(
        f"/api/workspaces/{slug}/workflows",
        json=workflow_body(name=name),
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 201, response.text
    return dict(response.json()["workflow"])


@QUIET
async def test_workspaces_with_their_workflows_load_in_one_batch(client, tokens, caplog):
    second_admin = await create_token("tess", "second", Role.ADMIN)
    await create_token("victor", "second", Role.EDITOR)
    acme = await create_workflow(client, tokens.headers(), name="Acme first")
    await create_workflow(client, tokens.headers(), name="Acme second")
    second = await workflow_in(client, second_admin, "second", "Second's")
    other = await workflow_in(client, tokens.outsider, "other", "Other's")
    ids = [acme["workspaceId"], second["workspaceId"], other["workspaceId"]]

    async def statements(asked: list[str]) -> tuple[int, dict[str, Any]]:
        caplog.clear()
        caplog.set_level(logging.DEBUG, logger="tortoise.db_client")
        caplog.set_level(logging.DEBUG, logger="runcast.sql")
        answer = await graphql(client, WORKSPACES, tokens.headers("viewer"), ids=asked)
        count = sum(1 for r in caplog.records if "SELECT" in r.getMessage().upper())
        return count, answer

    both, answer = await statements(ids)
    assert answer["data"]["nodes"] == [
        {
            "slug": "acme",
            "role": "VIEWER",
            "workflows": [
                {"name": "Acme second", "workspaceId": ids[0]},
                {"name": "Acme first", "workspaceId": ids[0]},
            ],
        },
        {
            "slug": "second",
            "role": "EDITOR",
            "workflows": [{"name": "Second's", "workspaceId": ids[1]}],
        },
        None,
    ]
    assert codes_at(answer) == [(["nodes", 2], "NOT_FOUND")]
    one, _ = await statements(ids[:1])
    assert both == one
