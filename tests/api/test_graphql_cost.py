"""GraphQL cost limit and response size cap: costly documents are refused before they run,
oversized answers are replaced by a coded error, ordinary and introspection queries pass."""

from __future__ import annotations

import json
import tracemalloc
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from graphql import get_introspection_query
from websockets.asyncio.client import connect

from runcast.errors import ConfigError
from runcast.models import Execution
from runcast.schema.response_size import encode_capped
from runcast.settings import Settings
from tests.helpers import create_workflow, graphql
from tests.streams.support import init, receive, ws_url

BIG_VALUE = "x" * 20_000
ROWS = 100


def listing(alias: str, limit: str = "100", fields: str = "id triggerData variables") -> str:
    arguments = f'workspaceSlug: "acme", first: {limit}'
    return f"{alias}: executions({arguments}) {{ edges {{ node {{ {fields} }} }} }}"


def nodes(page: dict[str, Any]) -> list[dict[str, Any]]:
    return [edge["node"] for edge in page["edges"]]


# The issue's attack: ten aliases of a full page selecting the large JSON fields.
ATTACK = "{ " + " ".join(listing(f"a{i}") for i in range(10)) + " }"
ATTACK_WITH_FRAGMENT = (
    "{ "
    + " ".join(listing(f"a{i}", fields="...Big") for i in range(10))
    + " } fragment Big on Execution { id triggerData variables }"
)
ATTACK_WITH_INLINE_FRAGMENT = (
    "{ "
    + " ".join(
        listing(f"a{i}", fields="... on Execution { id triggerData variables }") for i in range(10)
    )
    + " }"
)

DASHBOARD = """
query Dashboard {
  me { id name }
  workflows(workspaceSlug: "acme") { id name status actions { id type } }
  recent: executions(workspaceSlug: "acme", first: 20) {
    edges { node { id status workflowId triggerType startedAt durationMs workflow { id name } } }
    totalCount pageInfo { hasNextPage endCursor }
    statistics {
      total byStatus { pending running completed failed cancelled }
      successRate averageDurationMs p50DurationMs p95DurationMs
    }
  }
  failed: executions(workspaceSlug: "acme", filter: {status: [FAILED]}, first: 10) {
    edges { node { id error errorCode triggerData } }
  }
}
"""

# One REST page's worth: the largest listing, every field.
FULL_PAGE = f"""{{
  {
    listing(
        "page",
        fields="id workflowId workspaceId status triggeredBy triggerType triggerData "
        "variables isSimulation error errorCode startedAt completedAt durationMs "
        "workflow { id name }",
    )
}
}}"""

PAGE_OF_TWENTY_WITH_JSON = "{ " + listing("page", "20") + " }"


async def seed_big_executions(client: Any, tokens: Any, count: int = ROWS) -> None:
    """`count` executions whose trigger data and variables are 20 KB each."""
    workflow = await create_workflow(client, tokens.headers())
    start = datetime(2024, 12, 1, tzinfo=UTC)
    await Execution.bulk_create(
        [
            Execution(
                id=f"exec_big_{i:04d}",
                workspace_id=workflow["workspaceId"],
                workflow_id=workflow["id"],
                status="COMPLETED",
                trigger_data={"blob": BIG_VALUE},
                variables={"blob": BIG_VALUE},
                created_at=start + timedelta(seconds=i),
                started_at=start + timedelta(seconds=i),
            )
            for i in range(count)
        ]
    )


def only_error(answer: dict[str, Any]) -> dict[str, Any]:
    assert answer.get("data") is None, str(answer)[:500]
    [error] = answer["errors"]
    return error


@pytest.mark.parametrize("query", [ATTACK, ATTACK_WITH_FRAGMENT, ATTACK_WITH_INLINE_FRAGMENT])
async def test_the_issues_attack_is_refused_before_it_runs(client, tokens, query):
    await seed_big_executions(client, tokens)
    headers = tokens.headers("viewer")

    tracemalloc.start()
    try:
        response = await client.post("/graphql", json={"query": query}, headers=headers)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert response.status_code == 200
    assert len(response.content) < 2_000
    assert peak < 5_000_000, f"{peak} bytes allocated: the listings were loaded"
    error = only_error(response.json())
    assert error["extensions"]["code"] == "VALIDATION_ERROR"
    [detail] = error["extensions"]["details"]
    assert detail["reason"] == "QUERY_TOO_COMPLEX"
    assert detail["maxCost"] == 25_000
    assert detail["cost"] == 10 * (1 + ROWS * (1 + 1 + 1 + 2 * 100))
    assert f"Query cost {detail['cost']} exceeds the limit of 25000" in error["message"]

    healthy = await client.get("/healthz")
    assert healthy.status_code == 200
    page = await graphql(client, FULL_PAGE, headers)
    assert "errors" not in page
    assert len(nodes(page["data"]["page"])) == ROWS


async def test_one_full_page_with_every_field_passes(client, tokens):
    await seed_big_executions(client, tokens)

    answer = await graphql(client, FULL_PAGE, tokens.headers("viewer"))

    assert "errors" not in answer, str(answer)[:500]
    rows = nodes(answer["data"]["page"])
    assert len(rows) == ROWS
    assert rows[0]["triggerData"] == {"blob": BIG_VALUE}


async def test_a_dashboard_query_passes(client, tokens):
    await seed_big_executions(client, tokens, count=30)

    answer = await graphql(client, DASHBOARD, tokens.headers("viewer"))

    assert "errors" not in answer, answer
    assert len(nodes(answer["data"]["recent"])) == 20
    assert answer["data"]["recent"]["totalCount"] == 30
    assert [w["name"] for w in answer["data"]["workflows"]] == ["Onboarding"]


@pytest.mark.settings(graphql_max_cost=1)
async def test_introspection_costs_nothing(client, tokens):
    answer = await graphql(client, get_introspection_query(descriptions=True))

    assert "errors" not in answer
    assert answer["data"]["__schema"]["queryType"]["name"] == "Query"
    assert (await graphql(client, "{ __typename }")) == {"data": {"__typename": "Query"}}


async def test_a_variable_page_size_counts_as_the_largest_page(client, tokens):
    headers = tokens.headers("viewer")
    await create_workflow(client, headers=tokens.headers())
    literal = "{ " + listing("a", "10") + " " + listing("b", "10") + " }"
    variable = "query($n: Int) { " + listing("a", "$n") + " " + listing("b", "$n") + " }"

    assert "errors" not in await graphql(client, literal, headers)
    error = only_error(await graphql(client, variable, headers, n=10))
    assert error["extensions"]["details"][0]["cost"] == 2 * (1 + 100 * (1 + 1 + 1 + 200))


async def test_the_default_limit_allows_a_page_of_twenty_with_json(client, tokens):
    await seed_big_executions(client, tokens, count=5)

    answer = await graphql(client, PAGE_OF_TWENTY_WITH_JSON, tokens.headers("viewer"))

    assert "errors" not in answer
    assert len(nodes(answer["data"]["page"])) == 5


@pytest.mark.settings(graphql_max_cost=1_000)
async def test_a_lowered_limit_refuses_what_the_default_allows(client, tokens):
    await seed_big_executions(client, tokens, count=5)

    answer = await graphql(client, PAGE_OF_TWENTY_WITH_JSON, tokens.headers("viewer"))

    error = only_error(answer)
    assert error["extensions"]["code"] == "VALIDATION_ERROR"
    assert error["extensions"]["details"] == [
        {"reason": "QUERY_TOO_COMPLEX", "cost": 1 + 20 * (1 + 1 + 1 + 200), "maxCost": 1_000}
    ]
    assert "exceeds the limit of 1000" in error["message"]


@pytest.mark.settings(graphql_max_response_bytes=64_000)
async def test_a_response_over_the_size_cap_is_a_coded_error(client, tokens):
    await seed_big_executions(client, tokens, count=5)
    headers = tokens.headers("viewer")

    answer = await graphql(client, "{ " + listing("page", "5") + " }", headers)

    error = only_error(answer)
    assert error["extensions"]["code"] == "VALIDATION_ERROR"
    [detail] = error["extensions"]["details"]
    assert detail["reason"] == "RESPONSE_TOO_LARGE"
    assert detail["maxBytes"] == 64_000
    assert detail["bytes"] > 64_000
    small = await graphql(client, "{ " + listing("page", "1") + " }", headers)
    assert "errors" not in small
    assert len(nodes(small["data"]["page"])) == 1


@pytest.mark.settings(graphql_max_cost=50)
@pytest.mark.parametrize("protocol", ["graphql-transport-ws", "graphql-ws"])
async def test_costly_operations_are_refused_over_websockets(client, tokens, live, protocol):
    subscription = """subscription($id: ID!) {
      executionEvents(workspaceSlug: "acme", executionId: $id) {
        ... on StepEvent { seq output }
      }
    }"""
    transport_ws = protocol == "graphql-transport-ws"
    operations = [("1", subscription)]
    if transport_ws:  # queries and mutations travel over graphql-transport-ws too
        operations.append(("2", PAGE_OF_TWENTY_WITH_JSON))
    async with connect(ws_url(live), subprotocols=[protocol]) as ws:  # type: ignore[list-item]
        assert (await init(ws, tokens.viewer))["type"] == "connection_ack"
        for id, query in operations:
            request = {"query": query, "variables": {"id": "exec_unknown"}}
            kind = "subscribe" if transport_ws else "start"
            await ws.send(json.dumps({"id": id, "type": kind, "payload": request}))
            answer = await receive(ws)
            assert answer["type"] == "error", answer
            payload = answer["payload"]
            [error] = payload if isinstance(payload, list) else [payload]
            assert answer["id"] == id
            assert error["extensions"]["code"] == "VALIDATION_ERROR"
            assert error["extensions"]["details"][0]["reason"] == "QUERY_TOO_COMPLEX"


def test_the_limits_are_read_from_the_environment():
    settings = Settings.from_env(
        {"RUNCAST_GRAPHQL_MAX_COST": "500", "RUNCAST_GRAPHQL_MAX_RESPONSE_BYTES": "65536"}
    )
    assert (settings.graphql_max_cost, settings.graphql_max_response_bytes) == (500, 65_536)
    assert Settings.from_env({}).graphql_max_cost == 25_000
    assert Settings.from_env({}).graphql_max_response_bytes == 32 * 1024 * 1024
    with pytest.raises(ConfigError, match="RUNCAST_GRAPHQL_MAX_COST must be at least 1"):
        Settings.from_env({"RUNCAST_GRAPHQL_MAX_COST": "0"})


@pytest.mark.parametrize(
    "message",
    [
        {"data": {"x": "y" * 2_000}},
        {"id": "1", "type": "next", "payload": {"data": {"x": "y" * 2_000}}},
        {"id": "1", "type": "data", "payload": {"data": {"x": "y" * 2_000}}},
    ],
)
def test_the_cap_replaces_an_oversize_result_on_http_and_websocket_messages(message):
    capped = json.loads(encode_capped(message, 1_024))
    answer = capped.get("payload", capped)
    assert answer["data"] is None
    [detail] = answer["errors"][0]["extensions"]["details"]
    assert detail["reason"] == "RESPONSE_TOO_LARGE"
    assert detail["maxBytes"] == 1_024
    if "payload" in message:  # a websocket message keeps its id and type
        assert (capped["id"], capped["type"]) == (message["id"], message["type"])
    small = {"data": {"x": "y"}}
    assert json.loads(encode_capped(small, 1_024)) == small
