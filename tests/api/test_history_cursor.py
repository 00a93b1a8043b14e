"""Keyset paging of executions: the GraphQL connection and REST's `cursor`/`nextCursor`
never skip or repeat a row while executions are inserted between pages; filters, coded
errors for bad arguments, the workspace-wide REST listing, and a fixed number of queries
for a page of any size."""

from __future__ import annotations

import base64
import json
import logging
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

import pytest

from runcast.ids import new_id
from runcast.models import Execution, Workflow, Workspace
from tests.api.test_history import (
    Seeded,
    expected_statistics,
    item_of,
    make_rows,
    seed,
    seeded_workflow,
    select,
)
from tests.api.test_nodes import QUIET
from tests.helpers import WS, as_graphql, create_workflow, graphql, notify

PAGE = """
query($first: Int, $after: String, $last: Int, $before: String, $filter: ExecutionFilter) {
  executions(workspaceSlug: "acme", first: $first, after: $after, last: $last,
             before: $before, filter: $filter) {
    edges { cursor node { id } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    totalCount
  }
}
"""

FULL = """
query($first: Int, $filter: ExecutionFilter) {
  executions(workspaceSlug: "acme", first: $first, filter: $filter) {
    edges { node {
      id workflowId workspaceId status triggeredBy triggerType triggerData variables
      isSimulation error errorCode startedAt completedAt durationMs workflow { id name }
    } }
    pageInfo { hasNextPage hasPreviousPage }
    totalCount
    statistics {
      total byStatus { pending running completed failed cancelled }
      successRate averageDurationMs p50DurationMs p95DurationMs
    }
  }
}
"""


class Inserter:
    """Inserts executions newer than any before them, as new runs arrive."""

    def __init__(self, workspace_id: str) -> None:
        self.workspace_id = workspace_id
        self.rows: list[Seeded] = []

    async def add(self, workflow_ids: list[str], each: int = 2) -> None:
        now = datetime.now(UTC)
        fresh = [
            Seeded(
                f"exec_new_{len(self.rows) + n:04d}",
                workflow_id,
                "COMPLETED",
                now + timedelta(milliseconds=n),
                10 + n,
                (),
            )
            for n, workflow_id in enumerate(w for w in workflow_ids for _ in range(each))
        ]
        await seed(self.workspace_id, fresh)
        self.rows += fresh


async def two_workflows(client, tokens) -> tuple[list[dict[str, Any]], list[Seeded]]:
    first, first_rows = await seeded_workflow(client, tokens, count=150)
    second, second_rows = await seeded_workflow(client, tokens, name="Second", count=70, seed_=11)
    return [first, second], first_rows + second_rows


async def test_forward_paging_during_inserts_neither_skips_nor_repeats(client, tokens):
    workflows, rows = await two_workflows(client, tokens)
    inserts = Inserter(workflows[0]["workspaceId"])
    ids = [w["id"] for w in workflows]
    seen: list[str] = []
    after = None
    while True:
        answer = await graphql(client, PAGE, tokens.headers("viewer"), first=37, after=after)
        assert "errors" not in answer, answer
        connection = answer["data"]["executions"]
        edges, info = connection["edges"], connection["pageInfo"]
        seen += [edge["node"]["id"] for edge in edges]
        assert connection["totalCount"] == len(rows) + len(inserts.rows)
        assert info["hasPreviousPage"] is (after is not None)
        assert info["startCursor"] == edges[0]["cursor"]
        assert info["endCursor"] == edges[-1]["cursor"]
        if not info["hasNextPage"]:
            break
        after = info["endCursor"]
        await inserts.add(ids)

    assert len(inserts.rows) == 2 * 2 * (len(rows) // 37)
    assert seen == [r.id for r in select(rows)]


async def test_backward_paging_during_inserts_neither_skips_nor_repeats(client, tokens):
    workflows, rows = await two_workflows(client, tokens)
    inserts = Inserter(workflows[0]["workspaceId"])
    ids = [w["id"] for w in workflows]
    seen: list[str] = []
    before = None
    while True:
        answer = await graphql(client, PAGE, tokens.headers("viewer"), last=41, before=before)
        assert "errors" not in answer, answer
        connection = answer["data"]["executions"]
        edges, info = connection["edges"], connection["pageInfo"]
        assert len(edges) == 41 or not info["hasPreviousPage"]
        seen = [edge["node"]["id"] for edge in edges] + seen
        assert info["hasNextPage"] is (before is not None)
        if not info["hasPreviousPage"]:
            break
        before = info["startCursor"]
        await inserts.add(ids)

    assert inserts.rows
    assert seen == [r.id for r in select(rows + inserts.rows)]


async def test_pages_both_ways_meet_and_ties_order_by_id(client, tokens):
    _, rows = await seeded_workflow(client, tokens, count=120)
    ordered = [r.id for r in select(rows)]
    newest_first = select(rows)
    tied = [a for a, b in pairwise(newest_first) if a.started_at == b.started_at]
    assert tied, "the seed holds executions that started at the same instant"
    headers = tokens.headers()
    head = (await graphql(client, PAGE, headers, first=50))["data"]["executions"]
    middle = (await graphql(client, PAGE, headers, first=50, after=head["pageInfo"]["endCursor"]))[
        "data"
    ]["executions"]
    back = (
        await graphql(client, PAGE, headers, last=50, before=middle["pageInfo"]["startCursor"])
    )["data"]["executions"]

    assert [e["node"]["id"] for e in head["edges"]] == ordered[:50]
    assert [e["node"]["id"] for e in middle["edges"]] == ordered[50:100]
    assert back["edges"] == head["edges"]
    assert back["pageInfo"] == {**head["pageInfo"], "hasNextPage": True}
    assert head["pageInfo"]["hasPreviousPage"] is False
    bounded = (
        await graphql(
            client,
            PAGE,
            headers,
            first=100,
            after=head["edges"][9]["cursor"],
            before=middle["edges"][5]["cursor"],
        )
    )["data"]["executions"]
    assert [e["node"]["id"] for e in bounded["edges"]] == ordered[10:55]
    last = (await graphql(client, PAGE, headers, last=7))["data"]["executions"]
    assert [e["node"]["id"] for e in last["edges"]] == ordered[-7:]
    assert last["pageInfo"]["hasNextPage"] is False
    assert last["pageInfo"]["hasPreviousPage"] is True


async def test_an_empty_listing_has_no_cursors(client, tokens):
    answer = await graphql(client, PAGE, tokens.headers(), first=5)
    assert answer["data"]["executions"] == {
        "edges": [],
        "pageInfo": {
            "hasNextPage": False,
            "hasPreviousPage": False,
            "startCursor": None,
            "endCursor": None,
        },
        "totalCount": 0,
    }


async def mark(ids: list[str], **values: Any) -> None:
    await Execution.filter(id__in=ids).update(**values)


@pytest.mark.parametrize(
    ("graphql_filter", "rest_params", "wanted"),
    [
        ({}, {}, None),
        ({"status": ["FAILED", "CANCELLED"]}, {"status": "FAILED,CANCELLED"}, None),
        (
            {"from": "2024-12-03T00:00:00Z", "to": "2024-12-06T12:00:00+02:00"},
            {"from": "2024-12-03T00:00:00Z", "to": "2024-12-06T10:00:00Z"},
            None,
        ),
        ({"triggerType": ["MANUAL"]}, {"triggerType": "manual"}, None),
        ({"triggeredBy": "usr_night"}, {"triggeredBy": "usr_night"}, "by"),
        ({"search": "crm TIMEOUT"}, {"search": "CRM timeout"}, "error"),
        ({"search": "0%_"}, {"search": "0%_"}, "percent"),
        (
            {"status": ["COMPLETED"], "triggeredBy": "usr_night"},
            {"status": "COMPLETED", "triggeredBy": "usr_night"},
            "completed by",
        ),
    ],
)
async def test_filters(client, tokens, graphql_filter, rest_params, wanted):
    workflow, rows = await seeded_workflow(client, tokens)
    await seeded_workflow(client, tokens, name="Other", count=30, seed_=7)
    by_night = {r.id for r in rows[::7]}
    erred = {r.id for r in rows[::11]}
    percent = {r.id for r in rows[::13]}
    await mark(sorted(by_night), triggered_by="usr_night")
    await mark(sorted(erred - percent), error="Upstream CRM timeout after 30 s")
    await mark(sorted(percent), error="quota at 50%_ of plan")
    statuses = tuple(graphql_filter.get("status", ()))
    start = datetime(2024, 12, 3, tzinfo=UTC) if "from" in graphql_filter else None
    end = datetime(2024, 12, 6, 10, tzinfo=UTC) if "to" in graphql_filter else None
    extra = {
        None: lambda r: True,
        "by": lambda r: r.id in by_night,
        "error": lambda r: r.id in erred - percent,
        "percent": lambda r: r.id in percent,
        "completed by": lambda r: r.id in by_night,
    }
    chosen = [r for r in select(rows, statuses, start, end) if extra[wanted](r)]
    assert chosen

    answer = await graphql(
        client,
        FULL,
        tokens.headers("viewer"),
        first=100,
        filter={"workflowId": workflow["id"], **graphql_filter},
    )
    assert "errors" not in answer, answer
    connection = answer["data"]["executions"]
    assert [e["node"]["id"] for e in connection["edges"]] == [r.id for r in chosen[:100]]
    assert connection["totalCount"] == len(chosen)
    assert connection["statistics"] == as_graphql(expected_statistics(chosen))
    assert connection["pageInfo"] == {"hasNextPage": len(chosen) > 100, "hasPreviousPage": False}

    rest = await client.get(
        f"{WS}/workflows/{workflow['id']}/executions",
        params={**rest_params, "limit": "100"},
        headers=tokens.headers("viewer"),
    )
    assert rest.status_code == 200, rest.text
    body = rest.json()
    assert [e["id"] for e in body["executions"]] == [r.id for r in chosen[:100]]
    assert body["statistics"] == expected_statistics(chosen)
    assert [as_graphql(e) for e in body["executions"]] == [e["node"] for e in connection["edges"]]


def cursor_of(*parts: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(parts)).encode()).decode()


BAD_ARGUMENTS = [
    ({"after": "garbage!"}, "after"),
    ({"after": base64.urlsafe_b64encode(b"not json").decode()}, "after"),
    ({"after": cursor_of("v2", "2024-12-01T00:00:00+00:00", "exec_1")}, "after"),
    ({"after": cursor_of("v1", "the first of december", "exec_1")}, "after"),
    ({"after": cursor_of("v1", "2024-12-01T00:00:00", "exec_1")}, "after"),
    ({"after": cursor_of("v1", "2024-12-01T00:00:00+00:00", "exec 1; drop")}, "after"),
    ({"after": cursor_of("v1", 1733011200, "exec_1")}, "after"),
    ({"after": cursor_of("v1", "2024-12-01T00:00:00+00:00")}, "after"),
    ({"after": "A" * 5000}, "after"),
    ({"before": "%%%"}, "before"),
    ({"first": 0}, "first"),
    ({"first": 101}, "first"),
    ({"first": -1}, "first"),
    ({"last": 0}, "last"),
    ({"last": 1000}, "last"),
    ({"first": 5, "last": 5}, "last"),
    ({"filter": {"status": ["COMPLETED"], "search": "x" * 201}}, "search"),
    ({"filter": {"from": "2024-12-05T00:00:00Z", "to": "2024-12-04T00:00:00Z"}}, "from"),
]


@pytest.mark.parametrize(("variables", "field"), BAD_ARGUMENTS)
async def test_bad_arguments_are_validation_errors(client, tokens, variables, field):
    await seeded_workflow(client, tokens, count=5)
    answer = await graphql(client, PAGE, tokens.headers(), **variables)
    assert answer["data"] is None
    [error] = answer["errors"]
    assert error["extensions"] == {"code": "VALIDATION_ERROR", "details": [{"field": field}]}
    assert error["message"].startswith(f"{field}: ")


@pytest.mark.parametrize(
    "graphql_filter",
    [{"from": "yesterday"}, {"status": ["DONE"]}, {"triggerType": ["pigeon"]}],
)
async def test_bad_filter_values_are_validation_errors(client, tokens, graphql_filter):
    answer = await graphql(client, PAGE, tokens.headers(), filter=graphql_filter)
    assert answer["data"] is None
    assert [e["extensions"]["code"] for e in answer["errors"]] == ["VALIDATION_ERROR"]
    assert "filter" in answer["errors"][0]["message"]


async def test_scoping(client, tokens):
    other_workspace = await Workspace.get(slug="other")
    foreign = await Workflow.create(
        id=new_id("wf"), workspace=other_workspace, name="Theirs", actions=[notify()]
    )
    await seed(other_workspace.id, make_rows(foreign.id, 10, seed=12))
    mine, rows = await seeded_workflow(client, tokens, count=10)

    answer = await graphql(client, PAGE, tokens.headers(), first=100)
    assert [e["node"]["id"] for e in answer["data"]["executions"]["edges"]] == [
        r.id for r in select(rows)
    ]
    theirs = await graphql(client, PAGE, tokens.headers(), filter={"workflowId": foreign.id})
    assert theirs["errors"][0]["extensions"]["code"] == "WORKFLOW_NOT_FOUND"
    outsider = await graphql(client, PAGE, tokens.headers("outsider"))
    assert outsider["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    own = await graphql(client, PAGE, tokens.headers(), filter={"workflowId": mine["id"]})
    assert own["data"]["executions"]["totalCount"] == len(rows)


async def rest_pages(client, tokens, url: str, inserts: Inserter, ids: list[str]) -> list[str]:
    """Every id of a REST listing read page by page through `nextCursor`, inserting new
    executions between pages."""
    seen: list[str] = []
    params: dict[str, str] = {"limit": "45"}
    while True:
        response = await client.get(url, params=params, headers=tokens.headers("viewer"))
        assert response.status_code == 200, response.text
        body = response.json()
        seen += [e["id"] for e in body["executions"]]
        pagination = body["pagination"]
        assert pagination["offset"] == 0
        assert pagination["limit"] == 45
        if not pagination["hasMore"]:
            assert pagination["nextCursor"] is None
            return seen
        params["cursor"] = pagination["nextCursor"]
        await inserts.add(ids, each=1)


async def test_rest_cursor_paging_during_inserts(client, tokens):
    workflows, rows = await two_workflows(client, tokens)
    ids = [w["id"] for w in workflows]
    inserts = Inserter(workflows[0]["workspaceId"])

    one = await rest_pages(client, tokens, f"{WS}/workflows/{ids[0]}/executions", inserts, ids)
    assert inserts.rows
    assert one == [r.id for r in select(rows) if r.workflow_id == ids[0]]

    before = list(inserts.rows)
    whole = await rest_pages(client, tokens, f"{WS}/executions", inserts, ids)
    assert len(inserts.rows) > len(before)
    assert whole == [r.id for r in select(rows + before)]


async def test_rest_cursor_pages_match_offset_pages_without_inserts(client, tokens):
    workflow, _ = await seeded_workflow(client, tokens)
    url = f"{WS}/workflows/{workflow['id']}/executions"
    cursor = None
    for offset in range(0, 300, 60):
        by_offset = await client.get(
            url, params={"offset": str(offset), "limit": "60"}, headers=tokens.headers()
        )
        params = {"limit": "60", **({"cursor": cursor} if cursor else {})}
        by_cursor = await client.get(url, params=params, headers=tokens.headers())
        offset_body, cursor_body = by_offset.json(), by_cursor.json()
        assert cursor_body["executions"] == offset_body["executions"]
        assert cursor_body["statistics"] == offset_body["statistics"]
        assert cursor_body["pagination"]["nextCursor"] == offset_body["pagination"]["nextCursor"]
        assert cursor_body["pagination"]["hasMore"] is offset_body["pagination"]["hasMore"]
        cursor = cursor_body["pagination"]["nextCursor"]
    assert cursor is None


async def test_rest_workspace_listing(client, tokens):
    workflows, rows = await two_workflows(client, tokens)
    other_workspace = await Workspace.get(slug="other")
    foreign = await Workflow.create(
        id=new_id("wf"), workspace=other_workspace, name="Theirs", actions=[notify()]
    )
    await seed(other_workspace.id, make_rows(foreign.id, 30, seed=12))
    by_id = {w["id"]: w for w in workflows}
    chosen = select(rows, ("COMPLETED", "FAILED"))

    response = await client.get(
        f"{WS}/executions",
        params={"status": "COMPLETED,FAILED", "limit": "100"},
        headers=tokens.headers("viewer"),
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["statistics"] == expected_statistics(chosen)
    assert {k: v for k, v in body["pagination"].items() if k != "nextCursor"} == {
        "total": len(chosen),
        "offset": 0,
        "limit": 100,
        "hasMore": True,
    }
    assert body["executions"] == [item_of(r, by_id[r.workflow_id]) for r in chosen[:100]]
    assert {e["workflowId"] for e in body["executions"]} == set(by_id)

    for params, code, status in (
        ({"cursor": "nope"}, "VALIDATION_ERROR", 400),
        ({"status": "DONE"}, "VALIDATION_ERROR", 400),
        ({"offset": "5", "cursor": body["pagination"]["nextCursor"]}, "VALIDATION_ERROR", 400),
    ):
        refused = await client.get(f"{WS}/executions", params=params, headers=tokens.headers())
        assert refused.status_code == status, refused.text
        assert refused.json()["error"]["code"] == code
    outsider = await client.get(f"{WS}/executions", headers=tokens.headers("outsider"))
    assert outsider.status_code == 403
    assert outsider.json()["error"]["code"] == "FORBIDDEN"
    missing = await client.get("/api/workspaces/nowhere/executions", headers=tokens.headers())
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "WORKSPACE_NOT_FOUND"


def statements_sent(records: list[logging.LogRecord]) -> list[str]:
    return [
        r.getMessage()
        for r in records
        if r.name in ("tortoise.db_client", "runcast.sql")
        and r.getMessage().lstrip().upper().startswith(("SELECT", "WITH"))
    ]


@QUIET
async def test_a_page_costs_a_fixed_number_of_queries(client, tokens, caplog):
    workflows, rows = await two_workflows(client, tokens)
    more = make_rows(workflows[1]["id"], 200, seed=13)
    await seed(workflows[0]["workspaceId"], more)
    all_rows = select(rows + more)
    caplog.set_level(logging.DEBUG, logger="tortoise.db_client")
    caplog.set_level(logging.DEBUG, logger="runcast.sql")
    counts = {}
    for size in (1, 10, 100):
        caplog.clear()
        answer = await graphql(client, FULL, tokens.headers("viewer"), first=size)
        sent = statements_sent(caplog.records)
        assert "errors" not in answer, answer
        connection = answer["data"]["executions"]
        assert [e["node"]["id"] for e in connection["edges"]] == [r.id for r in all_rows[:size]]
        names = {w["id"]: w["name"] for w in workflows}
        assert all(
            e["node"]["workflow"]
            == {"id": e["node"]["workflowId"], "name": names[e["node"]["workflowId"]]}
            for e in connection["edges"]
        )
        assert connection["statistics"] == as_graphql(expected_statistics(all_rows))
        counts[size] = len(sent)
    # The token with its memberships, the page, the counts by status, the percentiles and
    # the page's workflows.
    assert counts == dict.fromkeys((1, 10, 100), 5)


async def test_cursors_page_through_executions_the_engine_stored(client, tokens):
    """Executions written by the engine (not seeded) page by cursor exactly as by offset."""
    workflow = await create_workflow(client, tokens.headers(), notify())
    for _ in range(7):
        started = await client.post(
            f"{WS}/workflows/{workflow['id']}/execute",
            json={"wait": True},
            headers=tokens.headers("editor"),
        )
        assert started.status_code == 201, started.text
    listing = await client.get(
        f"{WS}/workflows/{workflow['id']}/executions",
        params={"limit": "100"},
        headers=tokens.headers(),
    )
    expected = [e["id"] for e in listing.json()["executions"]]
    assert len(expected) == 7

    seen: list[str] = []
    after = None
    while True:
        answer = await graphql(client, PAGE, tokens.headers(), first=2, after=after)
        connection = answer["data"]["executions"]
        seen += [edge["node"]["id"] for edge in connection["edges"]]
        if not connection["pageInfo"]["hasNextPage"]:
            break
        after = connection["pageInfo"]["endCursor"]
    assert seen == expected

    seen = []
    params = {"limit": "3"}
    while True:
        body = (
            await client.get(f"{WS}/executions", params=params, headers=tokens.headers())
        ).json()
        seen += [e["id"] for e in body["executions"]]
        if body["pagination"]["nextCursor"] is None:
            break
        params["cursor"] = body["pagination"]["nextCursor"]
    assert seen == expected
