"""The auth matrix on REST and GraphQL: no token, bad token, each role, another workspace."""

from __future__ import annotations

import pytest
from tortoise import connections

from tests.helpers import WS, create_workflow, graphql, workflow_body


async def test_no_token_is_401_with_contract_body(client, tokens):
    response = await client.get(f"{WS}/workflows")
    assert response.status_code == 401
    assert response.json() == {
        "error": {"code": "UNAUTHORIZED", "message": "Authentication required"}
    }


@pytest.mark.parametrize(
    "header", ["Bearer rc_not-a-real-token", "Basic YWRtaW46YWRtaW4=", "Bearer", "rc_x"]
)
async def test_bad_token_is_401(client, tokens, header):
    response = await client.get(f"{WS}/workflows", headers={"Authorization": header})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "UNAUTHORIZED"


@pytest.mark.parametrize(
    ("role", "read", "write"),
    [
        ("owner", 200, 201),
        ("admin", 200, 201),
        ("editor", 200, 403),
        ("viewer", 200, 403),
        ("outsider", 403, 403),
    ],
)
async def test_role_matrix(client, tokens, role, read, write):
    headers = tokens.headers(role)
    assert (await client.get(f"{WS}/workflows", headers=headers)).status_code == read
    response = await client.post(f"{WS}/workflows", json=workflow_body(), headers=headers)
    assert response.status_code == write
    if write == 403:
        assert response.json()["error"]["code"] == "FORBIDDEN"


async def test_workspace_matches_slug_or_id(client, tokens):
    query = "{ me { memberships { workspaceId workspaceSlug role } } }"
    me = await graphql(client, query, tokens.headers("admin"))
    workspace_id = me["data"]["me"]["memberships"][0]["workspaceId"]
    assert workspace_id.startswith("ws_")
    created = await create_workflow(client, tokens.headers())
    by_id = await client.get(
        f"/api/workspaces/{workspace_id}/workflows/{created['id']}", headers=tokens.headers()
    )
    assert by_id.status_code == 200
    assert by_id.json()["workflow"] == created


async def test_unknown_workspace_is_404(client, tokens):
    response = await client.get("/api/workspaces/nope/workflows", headers=tokens.headers())
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "WORKSPACE_NOT_FOUND"


async def test_other_workspace_workflow_is_invisible(client, tokens):
    theirs = await client.post(
        "/api/workspaces/other/workflows", json=workflow_body(), headers=tokens.headers("outsider")
    )
    assert theirs.status_code == 201
    their_id = theirs.json()["workflow"]["id"]
    for method in ("GET", "PATCH", "DELETE"):
        response = await client.request(
            method, f"{WS}/workflows/{their_id}", json={"name": "x"}, headers=tokens.headers()
        )
        assert response.status_code == 404, method
        assert response.json()["error"]["code"] == "WORKFLOW_NOT_FOUND"
    listing = await client.get(f"{WS}/workflows", headers=tokens.headers())
    assert their_id not in [w["id"] for w in listing.json()["workflows"]]


async def test_graphql_auth_codes(client, tokens):
    query = '{ workflows(workspaceSlug: "acme") { id } }'
    anonymous = await graphql(client, query)
    assert anonymous["errors"][0]["extensions"]["code"] == "UNAUTHORIZED"
    bad = await graphql(client, query, {"Authorization": "Bearer nope"})
    assert bad["errors"][0]["extensions"]["code"] == "UNAUTHORIZED"
    outsider = await graphql(client, query, tokens.headers("outsider"))
    assert outsider["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    mutation = """mutation { createWorkflow(workspaceSlug: "acme", input: {name: "x",
        actions: [{type: "wait", config: {durationMs: 1}}]}) { id } }"""
    viewer = await graphql(client, mutation, tokens.headers("viewer"))
    assert viewer["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert (await graphql(client, query, tokens.headers("viewer")))["data"] == {"workflows": []}


async def test_tokens_are_stored_hashed(client, tokens):
    rows = await connections.get("default").execute_query_dict("SELECT * FROM api_token")
    stored = " ".join(str(value) for row in rows for value in row.values())
    assert len(rows) == 5
    for token in (tokens.owner, tokens.admin, tokens.editor, tokens.viewer, tokens.outsider):
        assert token not in stored
        assert token.removeprefix("rc_") not in stored
