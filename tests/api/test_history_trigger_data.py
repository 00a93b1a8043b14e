"""Listing executions by their trigger data: REST's repeatable `triggerData.<path>=value`
and GraphQL's `ExecutionFilter.triggerData`, a dotted path of object keys equal to a JSON
scalar (type and value), evaluated by the database, scoped like every other filter, with
cursor paging, and VALIDATION_ERROR naming the parameter for anything else."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from runcast.ids import new_id
from runcast.models import Execution, Workflow, Workspace
from tests.api.test_history import BASE
from tests.helpers import WS, create_workflow, graphql

DATA: list[dict[str, Any]] = [
    {"user": {"id": "u1", "tier": "gold"}, "count": 3, "flag": True},
    {"user": {"id": "u1", "tier": "silver"}, "count": 3.0, "flag": False},
    {"user": {"id": "u2", "tier": "gold"}, "count": "3", "flag": 1},
    {"user": {"id": "u1"}, "count": 4, "gone": None, "order-no": "A-1", "snake_key": 0},
    {"user": "u1", "count": [3], "flag": "true"},
    {"user": {"id": "u3", "tier": "gold"}, "count": 3, "gone": None},
    {},
]
"""Trigger data of the seeded executions; with `REPEAT` copies of each, newest first."""
REPEAT = 3

EDGES = """
query($filter: ExecutionFilter, $first: Int, $after: String) {
  executions(workspaceSlug: "acme", filter: $filter, first: $first, after: $after) {
    edges { node { id triggerData } }
    pageInfo { hasNextPage endCursor }
    totalCount
    statistics { total }
  }
}
"""


async def seeded(client, tokens) -> tuple[dict[str, Any], list[tuple[str, dict[str, Any]]]]:
    """A workflow of `acme` with `REPEAT` executions of each of `DATA`, a second apart, and
    the same trigger data in another workspace; answers (id, data) newest first."""
    workflow = await create_workflow(client, tokens.headers())
    other = await Workspace.get(slug="other")
    foreign = await Workflow.create(id=new_id("wf"), workspace=other, name="Theirs", actions=[])
    made: list[tuple[str, dict[str, Any]]] = []
    rows = []
    for i in range(REPEAT * len(DATA)):
        data = DATA[i % len(DATA)]
        started = BASE + timedelta(seconds=i)
        for workspace_id, workflow_id in (
            (workflow["workspaceId"], workflow["id"]),
            (other.id, foreign.id),
        ):
            row_id = new_id("exec")
            rows.append(
                Execution(
                    id=row_id,
                    workspace_id=workspace_id,
                    workflow_id=workflow_id,
                    status="COMPLETED",
                    trigger_data=data,
                    created_at=started,
                    started_at=started,
                    completed_at=started,
                    duration_ms=0,
                )
            )
            if workspace_id == workflow["workspaceId"]:
                made.append((row_id, data))
    await Execution.bulk_create(rows)
    return workflow, made[::-1]


def matching(made: list[tuple[str, dict[str, Any]]], *indexes: int) -> list[str]:
    """The ids of the executions of these `DATA` entries, newest first."""
    wanted = [DATA[i] for i in indexes]
    return [row_id for row_id, data in made if any(data is w for w in wanted)]


CASES: list[tuple[list[tuple[str, str]], list[dict[str, Any]], tuple[int, ...]]] = [
    ([("triggerData.user.id", "u1")], [{"path": "user.id", "value": "u1"}], (0, 1, 3)),
    ([("triggerData.user.id", '"u1"')], [{"path": "user.id", "value": "u1"}], (0, 1, 3)),
    ([("triggerData.count", "3")], [{"path": "count", "value": 3}], (0, 1, 5)),
    ([("triggerData.count", "3.0")], [{"path": "count", "value": 3.0}], (0, 1, 5)),
    ([("triggerData.count", '"3"')], [{"path": "count", "value": "3"}], (2,)),
    ([("triggerData.flag", "true")], [{"path": "flag", "value": True}], (0,)),
    ([("triggerData.flag", "false")], [{"path": "flag", "value": False}], (1,)),
    ([("triggerData.flag", "1")], [{"path": "flag", "value": 1}], (2,)),
    ([("triggerData.gone", "null")], [{"path": "gone", "value": None}], (3, 5)),
    ([("triggerData.order-no", "A-1")], [{"path": "order-no", "value": "A-1"}], (3,)),
    ([("triggerData.snake_key", "0")], [{"path": "snake_key", "value": 0}], (3,)),
    ([("triggerData.user", "u1")], [{"path": "user", "value": "u1"}], (4,)),
    ([("triggerData.user.id.deeper", "u1")], [{"path": "user.id.deeper", "value": "u1"}], ()),
    ([("triggerData.count.0", "3")], [{"path": "count.0", "value": 3}], ()),
    (
        [("triggerData.user.tier", "gold"), ("triggerData.count", "3")],
        [{"path": "user.tier", "value": "gold"}, {"path": "count", "value": 3}],
        (0, 5),
    ),
    (
        [("triggerData.user.tier", "gold"), ("triggerData.user.tier", "silver")],
        [{"path": "user.tier", "value": "gold"}, {"path": "user.tier", "value": "silver"}],
        (),
    ),
]


@pytest.mark.parametrize(("params", "graphql_matches", "indexes"), CASES)
async def test_rest_and_graphql_list_the_executions_whose_trigger_data_matches(
    client, tokens, params, graphql_matches, indexes
):
    workflow, made = await seeded(client, tokens)
    expected = matching(made, *indexes)
    viewer = tokens.headers("viewer")

    for path in (f"{WS}/executions", f"{WS}/workflows/{workflow['id']}/executions"):
        rest = await client.get(path, params=[*params, ("limit", "100")], headers=viewer)
        assert rest.status_code == 200, rest.text
        body = rest.json()
        assert [e["id"] for e in body["executions"]] == expected
        assert body["pagination"]["total"] == body["statistics"]["total"] == len(expected)

    answer = await graphql(
        client, EDGES, viewer, filter={"triggerData": graphql_matches}, first=100
    )
    assert "errors" not in answer, answer["errors"]
    connection = answer["data"]["executions"]
    assert [edge["node"]["id"] for edge in connection["edges"]] == expected
    assert connection["totalCount"] == connection["statistics"]["total"] == len(expected)


async def test_paging_by_cursor_keeps_the_filter(client, tokens):
    workflow, made = await seeded(client, tokens)
    expected = matching(made, 0, 1, 3)
    viewer = tokens.headers("viewer")

    seen: list[str] = []
    after = None
    while True:
        answer = await graphql(
            client,
            EDGES,
            viewer,
            filter={
                "workflowId": workflow["id"],
                "triggerData": [{"path": "user.id", "value": "u1"}],
            },
            first=2,
            after=after,
        )
        connection = answer["data"]["executions"]
        assert connection["totalCount"] == len(expected)
        seen += [edge["node"]["id"] for edge in connection["edges"]]
        if not connection["pageInfo"]["hasNextPage"]:
            break
        after = connection["pageInfo"]["endCursor"]
    assert seen == expected

    seen = []
    params = [("triggerData.user.id", "u1"), ("limit", "2")]
    while True:
        body = (await client.get(f"{WS}/executions", params=params, headers=viewer)).json()
        assert body["pagination"]["total"] == len(expected)
        seen += [e["id"] for e in body["executions"]]
        if body["pagination"]["nextCursor"] is None:
            break
        params = [*params[:2], ("cursor", body["pagination"]["nextCursor"])]
    assert seen == expected


LONG_PATH = ".".join(["k"] * 101)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ([("triggerData.user id", "u1")], "triggerData.user id"),
        ([("triggerData.", "u1")], "triggerData."),
        ([("triggerData..id", "u1")], "triggerData..id"),
        ([("triggerData.user.", "u1")], "triggerData.user."),
        ([("triggerData.a'--", "u1")], "triggerData.a'--"),
        ([("triggerData.$.a", "u1")], "triggerData.$.a"),
        ([("triggerData.ünï", "u1")], "triggerData.ünï"),
        ([(f"triggerData.{LONG_PATH}", "u1")], f"triggerData.{LONG_PATH[:200]}"),
        ([("triggerData", "u1")], "triggerData."),
        ([(f"triggerData.k{i}", "1") for i in range(6)], "triggerData"),
        ([("triggerData.a", "[1]")], "triggerData.a"),
        ([("triggerData.a", '{"b": 1}')], "triggerData.a"),
        ([("triggerData.a", "NaN")], "triggerData.a"),
        ([("triggerData.a", "1e400")], "triggerData.a"),
        ([("triggerData.a", str(2**60))], "triggerData.a"),
        ([("triggerData.a", "x" * 201)], "triggerData.a"),
    ],
)
async def test_bad_rest_matches_are_validation_errors_naming_the_parameter(
    client, tokens, params, field
):
    response = await client.get(f"{WS}/executions", params=params, headers=tokens.headers())
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert error["details"] == [{"field": field}]


@pytest.mark.parametrize(
    ("matches", "field"),
    [
        ([{"path": "user id", "value": "u1"}], "triggerData.user id"),
        ([{"path": "", "value": "u1"}], "triggerData."),
        ([{"path": "a", "value": {"b": 1}}], "triggerData.a"),
        ([{"path": "a", "value": [1]}], "triggerData.a"),
        ([{"path": "a", "value": 2**60}], "triggerData.a"),
        ([{"path": f"k{i}", "value": 1} for i in range(6)], "triggerData"),
    ],
)
async def test_bad_graphql_matches_are_validation_errors(client, tokens, matches, field):
    answer = await graphql(client, EDGES, tokens.headers(), filter={"triggerData": matches})
    assert answer["data"] is None
    [error] = answer["errors"]
    assert error["extensions"] == {"code": "VALIDATION_ERROR", "details": [{"field": field}]}


async def test_the_filter_never_reaches_another_workspace(client, tokens):
    await seeded(client, tokens)
    outsider = tokens.headers("outsider")
    refused = await client.get(
        f"{WS}/executions", params={"triggerData.user.id": "u1"}, headers=outsider
    )
    assert refused.status_code == 403
    theirs = await client.get(
        "/api/workspaces/other/executions",
        params=[("triggerData.user.id", "u1"), ("limit", "100")],
        headers=outsider,
    )
    assert theirs.status_code == 200, theirs.text
    listed = theirs.json()["executions"]
    assert len(listed) == 3 * REPEAT
    assert {e["workspaceId"] for e in listed} == {(await Workspace.get(slug="other")).id}
