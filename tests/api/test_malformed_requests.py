"""Malformed requests get a clear coded 4xx on REST and on /graphql, never a 500, and
nothing is stored for them."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.helpers import WS, create_workflow

DEEP = "[" * 5_000 + "]" * 5_000
GRAPHQL_JSON = {"content-type": "application/json"}


def nested(depth: int) -> Any:
    """A JSON value `depth` levels deep: [[...[]...]]."""
    value: Any = []
    for _ in range(depth - 1):
        value = [value]
    return value


def assert_rest_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert isinstance(error["message"], str) and error["message"]
    return dict(error)


def assert_graphql_error(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    errors = response.json()["errors"]
    assert [e["extensions"]["code"] for e in errors] == [code]
    return str(errors[0]["message"])


GRAPHQL_BODIES = {
    "null": (b"null", "must be a JSON object"),
    "a number": (b"1", "must be a JSON object"),
    "a string": (b'"s"', "must be a JSON object"),
    "a list": (b'[{"query": "{ me { id } }"}]', "must be a JSON object"),
    "empty": (b"", "not valid JSON"),
    "NaN": (b"NaN", "NaN is not a JSON number"),
    "invalid UTF-8": (b'{"query": "\xff"}', "not UTF-8"),
    "UTF-16": ('{"query": "{ me { id } }"}'.encode("utf-16"), "not UTF-8"),
    "a byte order mark": (b'\xef\xbb\xbf{"query": "{ me { id } }"}', "byte order mark"),
    "a 5,000-digit integer": (
        b'{"query": "{ me { id } }", "variables": {"n": ' + b"9" * 5_000 + b"}}",
        "number too long",
    ),
    "variables 5,000 deep": (
        b'{"query": "{ me { id } }", "variables": {"v": ' + DEEP.encode() + b"}}",
        "nested more than",
    ),
    "query not a string": (b'{"query": 1}', "must be a string"),
    "no query": (b"{}", "No GraphQL query"),
}


@pytest.mark.parametrize("name", list(GRAPHQL_BODIES), ids=list(GRAPHQL_BODIES))
async def test_graphql_refuses_a_malformed_body_with_a_coded_400(client, tokens, name):
    body, message = GRAPHQL_BODIES[name]
    response = await client.post(
        "/graphql", content=body, headers={**tokens.headers("viewer"), **GRAPHQL_JSON}
    )
    assert message in assert_graphql_error(response, 400, "VALIDATION_ERROR")


async def test_graphql_refuses_a_wrong_content_type_and_subscriptions_over_http(client, tokens):
    headers = tokens.headers("viewer")
    plain = await client.post(
        "/graphql",
        content=b'{"query": "{ me { id } }"}',
        headers={**headers, "content-type": "text/plain"},
    )
    assert_graphql_error(plain, 400, "VALIDATION_ERROR")
    subscription = (
        'subscription { executionEvents(workspaceSlug: "acme", executionId: "exec_1") '
        "{ __typename } }"
    )
    over_post = await client.post("/graphql", json={"query": subscription}, headers=headers)
    assert "websockets" in assert_graphql_error(over_post, 400, "VALIDATION_ERROR")
    get_variables = await client.get(
        "/graphql", params={"query": "{ me { id } }", "variables": "[1]"}, headers=headers
    )
    assert_graphql_error(get_variables, 400, "VALIDATION_ERROR")


async def test_graphql_literals_that_cannot_be_read_are_validation_errors(client, tokens):
    headers = tokens.headers("editor")
    workflow = await create_workflow(client, tokens.headers())
    huge = '{ executions(workspaceSlug: "acme", first: %s) { totalCount } }' % ("9" * 5_000)
    answer = (await client.post("/graphql", json={"query": huge}, headers=headers)).json()
    assert [e["extensions"]["code"] for e in answer["errors"]] == ["VALIDATION_ERROR"]
    assert len(answer["errors"][0]["message"]) <= 501

    literal = json.dumps(nested(65))
    execute = (
        f'mutation {{ executeWorkflow(workspaceSlug: "acme", workflowId: "{workflow["id"]}", '
        f"input: {{triggerData: {{a: {literal}}}}}) {{ id }} }}"
    )
    answer = (await client.post("/graphql", json={"query": execute}, headers=headers)).json()
    assert answer["errors"][0]["extensions"]["code"] == "VALIDATION_ERROR"
    listed = await client.get(f"{WS}/workflows/{workflow['id']}/executions", headers=headers)
    assert listed.json()["executions"] == []


REST_BODIES = {
    "UTF-16": ('{"triggerData": {}}'.encode("utf-16"), "not UTF-8"),
    "a byte order mark": (b'\xef\xbb\xbf{"triggerData": {}}', "byte order mark"),
    "null": (b"null", "must be a JSON object"),
    "nested 5,000 deep": (b'{"triggerData": {"a": ' + DEEP.encode() + b"}}", "nested more than"),
    "triggerData 65 deep": (
        json.dumps({"triggerData": {"a": nested(64)}}).encode(),
        "nested more than 64",
    ),
    "a 5,000-digit integer": (b'{"triggerData": {"n": ' + b"1" * 5_000 + b"}}", "too long"),
    "NaN": (b'{"triggerData": {"n": NaN}}', "NaN is not a JSON number"),
    "a NUL character": (b'{"triggerData": {"n": "a\\u0000b"}}', "NUL"),
}


@pytest.mark.parametrize("name", list(REST_BODIES), ids=list(REST_BODIES))
async def test_execute_refuses_a_malformed_body_and_stores_nothing(client, tokens, name):
    workflow = await create_workflow(client, tokens.headers())
    body, message = REST_BODIES[name]
    response = await client.post(
        f"{WS}/workflows/{workflow['id']}/execute", content=body, headers=tokens.headers("editor")
    )
    assert message in assert_rest_error(response, 400, "VALIDATION_ERROR")["message"]
    listed = await client.get(
        f"{WS}/workflows/{workflow['id']}/executions", headers=tokens.headers()
    )
    assert listed.status_code == 200
    assert listed.json()["executions"] == []


async def test_an_empty_execute_body_is_an_empty_request(client, tokens):
    workflow = await create_workflow(client, tokens.headers())
    response = await client.post(
        f"{WS}/workflows/{workflow['id']}/execute", content=b"", headers=tokens.headers("editor")
    )
    assert response.status_code == 201, response.text
    assert response.json()["execution"]["triggerData"] == {}


@pytest.mark.parametrize(
    "body", [b'{"name": "x", "actions": []}'.decode().encode("utf-16"), DEEP.encode()]
)
async def test_workflow_bodies_go_through_the_same_boundary(client, tokens, body):
    response = await client.post(f"{WS}/workflows", content=body, headers=tokens.headers())
    assert_rest_error(response, 400, "VALIDATION_ERROR")
    assert (await client.get(f"{WS}/workflows", headers=tokens.headers())).json()["workflows"] == []


ODD_IDS = ["x" * 41, "x" * 5_000, "exec_%00", "a%20b", "a.b", "%F0%9F%98%80"]


@pytest.mark.parametrize("odd", ODD_IDS)
async def test_odd_identifiers_are_not_found_on_every_rest_route(client, tokens, odd):
    headers = tokens.headers()
    workflow = await create_workflow(client, headers)
    ws_routes = [
        f"/api/workspaces/{odd}/workflows",
        f"/api/workspaces/{odd}/workflows/{workflow['id']}",
        f"/api/workspaces/{odd}/workflows/{workflow['id']}/executions",
    ]
    for path in ws_routes:
        assert_rest_error(await client.get(path, headers=headers), 404, "WORKSPACE_NOT_FOUND")
    for method, path in [
        ("GET", f"{WS}/workflows/{odd}"),
        ("PATCH", f"{WS}/workflows/{odd}"),
        ("DELETE", f"{WS}/workflows/{odd}"),
        ("POST", f"{WS}/workflows/{odd}/execute"),
        ("GET", f"{WS}/workflows/{odd}/executions"),
        ("GET", f"{WS}/workflows/{odd}/history"),
    ]:
        response = await client.request(method, path, headers=headers, json={})
        assert_rest_error(response, 404, "WORKFLOW_NOT_FOUND")
    for method, path in [
        ("GET", f"{WS}/workflows/executions/{odd}"),
        ("POST", f"{WS}/workflows/executions/{odd}"),
        ("DELETE", f"{WS}/workflows/executions/{odd}"),
        ("GET", f"{WS}/workflows/executions/{odd}/stream"),
    ]:
        response = await client.request(method, path, headers=headers)
        assert_rest_error(response, 404, "EXECUTION_NOT_FOUND")
    history = await client.get(
        f"{WS}/workflows/{workflow['id']}/history", params={"executionId": odd}, headers=headers
    )
    assert_rest_error(history, 404, "EXECUTION_NOT_FOUND")
    assert (await client.get("/healthz")).status_code == 200


@pytest.mark.parametrize("odd", ["x" * 41, "x" * 5_000, "a\tb", "ü"])
async def test_odd_identifiers_are_not_found_through_graphql(client, tokens, odd):
    headers = tokens.headers()
    queries = {
        "WORKSPACE_NOT_FOUND": "query($v: String!) { workflows(workspaceSlug: $v) { id } }",
        "WORKFLOW_NOT_FOUND": 'query($v: ID!) { workflow(workspaceSlug: "acme", id: $v) {id} }',
        "EXECUTION_NOT_FOUND": 'query($v: ID!) { execution(workspaceSlug: "acme", id: $v){id}}',
    }
    for code, query in queries.items():
        response = await client.post(
            "/graphql", json={"query": query, "variables": {"v": odd}}, headers=headers
        )
        assert response.status_code == 200
        assert [e["extensions"]["code"] for e in response.json()["errors"]] == [code]


async def test_nul_characters_in_graphql_literals_never_reach_the_database(client, tokens):
    headers = tokens.headers("editor")
    workflow = await create_workflow(client, tokens.headers())
    keyed = (
        f'mutation {{ executeWorkflow(workspaceSlug: "acme", workflowId: "{workflow["id"]}", '
        'input: {idempotencyKey: "a\\u0000b"}) { id } }'
    )
    answer = (await client.post("/graphql", json={"query": keyed}, headers=headers)).json()
    assert answer["errors"][0]["extensions"]["code"] == "VALIDATION_ERROR"
    slug = '{ workflows(workspaceSlug: "ac\\u0000me") { id } }'
    answer = (await client.post("/graphql", json={"query": slug}, headers=headers)).json()
    assert answer["errors"][0]["extensions"]["code"] == "WORKSPACE_NOT_FOUND"
    listed = await client.get(f"{WS}/workflows/{workflow['id']}/executions", headers=headers)
    assert listed.json()["executions"] == []


async def test_head_on_graphql_answers_like_get(tokens, live):
    async with httpx.AsyncClient(base_url=live) as http:
        params = {"query": "{ me { id } }"}
        head = await http.head("/graphql", params=params, headers=tokens.headers("viewer"))
        get = await http.get("/graphql", params=params, headers=tokens.headers("viewer"))
    assert head.status_code == get.status_code == 200
    assert head.headers["content-type"] == get.headers["content-type"] == "application/json"
    assert head.content == b""
    assert get.json()["data"]["me"]["id"].startswith("usr_")
