"""The GraphQL `executions` query gives the REST listing's numbers, and its errors."""

from __future__ import annotations

from typing import Any

import pytest

from runcast.ids import new_id
from runcast.models import Workflow, Workspace
from tests.api.test_history import (
    expected_statistics,
    make_rows,
    seed,
    seeded_workflow,
    select,
)
from tests.helpers import WS, as_graphql, graphql, notify

QUERY = """
query($workflowId: ID, $status: [ExecutionStatus!], $from: String, $to: String,
      $offset: Int, $limit: Int) {
  executions(workspaceSlug: "acme", workflowId: $workflowId, status: $status, from: $from,
             to: $to, offset: $offset, limit: $limit) {
    executions {
      id workflowId workspaceId status triggeredBy triggerType triggerData variables
      isSimulation error errorCode startedAt completedAt durationMs workflow { id name }
    }
    pagination { total offset limit hasMore }
    statistics {
      total byStatus { pending running completed failed cancelled }
      successRate averageDurationMs p50DurationMs p95DurationMs
    }
  }
}
"""


def _rest_params(variables: dict[str, Any]) -> dict[str, str]:
    params = {k: str(v) for k, v in variables.items() if k != "status"}
    if "status" in variables:
        params["status"] = ",".join(variables["status"])
    return params


@pytest.mark.parametrize(
    "variables",
    [
        {},
        {"status": ["COMPLETED"]},
        {"status": ["FAILED", "CANCELLED"], "offset": 10, "limit": 5},
        {"status": ["PENDING", "RUNNING"]},
        {"from": "2024-12-04T00:00:00Z", "to": "2024-12-08T12:30:00+01:00", "limit": 100},
        {"offset": 290, "limit": 500},
        {"limit": 0},
    ],
)
async def test_same_numbers_as_rest(client, tokens, variables):
    workflow, _ = await seeded_workflow(client, tokens)
    headers = tokens.headers("viewer")

    answer = await graphql(client, QUERY, headers, workflowId=workflow["id"], **variables)
    rest = await client.get(
        f"{WS}/workflows/{workflow['id']}/executions",
        params=_rest_params(variables),
        headers=headers,
    )

    assert "errors" not in answer, answer
    listing = answer["data"]["executions"]
    expected = as_graphql(rest.json())
    assert listing["statistics"] == expected["statistics"]
    assert listing["pagination"] == expected["pagination"]
    assert listing["executions"] == expected["executions"]


async def test_without_workflow_id_lists_the_whole_workspace(client, tokens):
    first, first_rows = await seeded_workflow(client, tokens, count=120)
    second, second_rows = await seeded_workflow(client, tokens, name="Second", count=80, seed_=11)
    other_workspace = await Workspace.get(slug="other")
    foreign = await Workflow.create(
        id=new_id("wf"), workspace=other_workspace, name="Theirs", actions=[notify()]
    )
    await seed(other_workspace.id, make_rows(foreign.id, 30, seed=12))
    chosen = select(first_rows + second_rows, ("COMPLETED", "FAILED"))

    answer = await graphql(
        client, QUERY, tokens.headers(), status=["COMPLETED", "FAILED"], limit=100
    )

    listing = answer["data"]["executions"]
    assert listing["statistics"] == as_graphql(expected_statistics(chosen))
    assert listing["pagination"] == {
        "total": len(chosen),
        "offset": 0,
        "limit": 100,
        "hasMore": True,
    }
    assert [e["id"] for e in listing["executions"]] == [r.id for r in chosen[:100]]
    names = {first["id"]: first["name"], second["id"]: second["name"]}
    assert {e["workflowId"] for e in listing["executions"]} == set(names)
    for item in listing["executions"]:
        assert item["workflow"] == {"id": item["workflowId"], "name": names[item["workflowId"]]}


@pytest.mark.parametrize(
    ("variables", "field"),
    [
        ({"offset": -1}, "offset"),
        ({"from": "yesterday"}, "from"),
        ({"to": "soon"}, "to"),
        ({"from": "2024-12-05T00:00:00Z", "to": "2024-12-04T00:00:00Z"}, "from"),
    ],
)
async def test_bad_arguments_are_validation_errors(client, tokens, variables, field):
    answer = await graphql(client, QUERY, tokens.headers(), **variables)
    assert answer["data"] is None
    [error] = answer["errors"]
    assert error["extensions"] == {"code": "VALIDATION_ERROR", "details": [{"field": field}]}
    assert error["message"].startswith(f"{field}: ")


async def test_unknown_status_and_scoping(client, tokens):
    bogus = await graphql(client, QUERY, tokens.headers(), status=["BOGUS"])
    assert bogus["errors"][0]["extensions"]["code"] == "VALIDATION_ERROR"

    missing = await graphql(client, QUERY, tokens.headers(), workflowId="wf_missing")
    assert missing["errors"][0]["extensions"]["code"] == "WORKFLOW_NOT_FOUND"

    outsider = await graphql(client, QUERY, tokens.headers("outsider"))
    assert outsider["errors"][0]["extensions"]["code"] == "FORBIDDEN"
