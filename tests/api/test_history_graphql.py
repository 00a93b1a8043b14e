"""The GraphQL `executions` connection gives the REST listing's numbers, and its errors."""

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
query($filter: ExecutionFilter, $first: Int, $after: String) {
  executions(workspaceSlug: "acme", filter: $filter, first: $first, after: $after) {
    edges { node {
      id workflowId workspaceId status triggeredBy triggerType triggerData variables
      isSimulation error errorCode startedAt completedAt durationMs workflow { id name }
    } }
    pageInfo { hasNextPage endCursor }
    totalCount
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


async def _cursor_at(client, headers, graphql_filter: dict[str, Any], offset: int) -> str | None:
    """The cursor after the first `offset` executions, read a page at a time."""
    after = None
    while offset > 0:
        size = min(offset, 100)
        answer = await graphql(
            client, QUERY, headers, filter=graphql_filter, first=size, after=after
        )
        after = answer["data"]["executions"]["pageInfo"]["endCursor"]
        offset -= size
    return after


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
    """The connection shows what REST's offset listing shows: the offset becomes the cursor
    after that many executions, the limit (clamped to 1..100) the page size."""
    workflow, _ = await seeded_workflow(client, tokens)
    headers = tokens.headers("viewer")
    graphql_filter = {
        "workflowId": workflow["id"],
        **{k: v for k, v in variables.items() if k in ("status", "from", "to")},
    }
    size = min(max(variables.get("limit", 20), 1), 100)
    after = await _cursor_at(client, headers, graphql_filter, variables.get("offset", 0))

    answer = await graphql(client, QUERY, headers, filter=graphql_filter, first=size, after=after)
    rest = await client.get(
        f"{WS}/workflows/{workflow['id']}/executions",
        params=_rest_params(variables),
        headers=headers,
    )

    assert "errors" not in answer, answer
    listing = answer["data"]["executions"]
    expected = as_graphql(rest.json())
    assert listing["statistics"] == expected["statistics"]
    assert listing["totalCount"] == expected["pagination"]["total"]
    assert listing["pageInfo"]["hasNextPage"] is expected["pagination"]["hasMore"]
    assert [edge["node"] for edge in listing["edges"]] == expected["executions"]


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
        client, QUERY, tokens.headers(), filter={"status": ["COMPLETED", "FAILED"]}, first=100
    )

    listing = answer["data"]["executions"]
    assert listing["statistics"] == as_graphql(expected_statistics(chosen))
    assert listing["totalCount"] == len(chosen)
    assert listing["pageInfo"]["hasNextPage"] is True
    nodes = [edge["node"] for edge in listing["edges"]]
    assert [e["id"] for e in nodes] == [r.id for r in chosen[:100]]
    names = {first["id"]: first["name"], second["id"]: second["name"]}
    assert {e["workflowId"] for e in nodes} == set(names)
    for item in nodes:
        assert item["workflow"] == {"id": item["workflowId"], "name": names[item["workflowId"]]}


@pytest.mark.parametrize(
    ("graphql_filter", "field"),
    [
        ({"from": "yesterday"}, "from"),
        ({"to": "soon"}, "to"),
        ({"from": "0001-01-01T00:00:00+01:00"}, "from"),
    ],
)
async def test_bad_instants_are_validation_errors(client, tokens, graphql_filter, field):
    answer = await graphql(client, QUERY, tokens.headers(), filter=graphql_filter)
    assert answer["data"] is None
    [error] = answer["errors"]
    assert error["extensions"]["code"] == "VALIDATION_ERROR"
    assert error["message"].startswith(f"Variable '$filter' has invalid value at .{field}: ")
    assert "DateTime" in error["message"]


async def test_a_range_that_ends_before_it_starts_names_from(client, tokens):
    answer = await graphql(
        client,
        QUERY,
        tokens.headers(),
        filter={"from": "2024-12-05T00:00:00Z", "to": "2024-12-04T00:00:00Z"},
    )
    assert answer["data"] is None
    [error] = answer["errors"]
    assert error["extensions"] == {"code": "VALIDATION_ERROR", "details": [{"field": "from"}]}
    assert error["message"].startswith("from: ")


async def test_unknown_status_and_scoping(client, tokens):
    bogus = await graphql(client, QUERY, tokens.headers(), filter={"status": ["BOGUS"]})
    assert bogus["errors"][0]["extensions"]["code"] == "VALIDATION_ERROR"

    missing = await graphql(client, QUERY, tokens.headers(), filter={"workflowId": "wf_missing"})
    assert missing["errors"][0]["extensions"]["code"] == "WORKFLOW_NOT_FOUND"

    outsider = await graphql(client, QUERY, tokens.headers("outsider"))
    assert outsider["errors"][0]["extensions"]["code"] == "FORBIDDEN"
