"""Workflow definitions over GraphQL give the same results as REST; limits and masking."""

from __future__ import annotations

from tests.helpers import WS, as_graphql, graphql

FIELDS = (
    "id workspaceId name description status trigger timeoutMs createdAt updatedAt "
    "webhookUrl concurrency nextRuns "
    "actions { id actionId type name config onError timeout }"
)

ACTIONS = [
    {"type": "send_notification", "config": {"message": "Hi {{trigger.userId}}"}},
    {
        "id": "t",
        "type": "create_task",
        "config": {"title": "Do it"},
        "onError": "CONTINUE",
        "timeout": 1000,
    },
]


def _rest_shape(gql: dict) -> dict:
    """GraphQL returns every action field; REST omits unset optional ones. REST's action
    `id` is GraphQL's `actionId`; GraphQL's `id` is the workflow's id, a colon, then it."""
    actions = []
    for action in gql["actions"]:
        assert action["id"] == f"{gql['id']}:{action['actionId']}"
        shown = {k: v for k, v in action.items() if v is not None and k != "actionId"}
        actions.append({**shown, "id": action["actionId"]})
    return {**gql, "actions": actions}


async def test_crud_matches_rest(client, tokens):
    headers = tokens.headers()
    created = await graphql(
        client,
        f"""mutation($input: WorkflowInput!) {{
              createWorkflow(workspaceSlug: "acme", input: $input) {{ {FIELDS} }} }}""",
        headers,
        input={"name": "Onboarding", "description": "d", "timeoutMs": 5000, "actions": ACTIONS},
    )
    workflow = created["data"]["createWorkflow"]
    rest = (await client.get(f"{WS}/workflows/{workflow['id']}", headers=headers)).json()
    assert _rest_shape(workflow) == as_graphql(rest["workflow"])

    listed = await graphql(
        client, f'{{ workflows(workspaceSlug: "acme") {{ {FIELDS} }} }}', headers
    )
    shown = [as_graphql(rest["workflow"])]
    assert [_rest_shape(w) for w in listed["data"]["workflows"]] == shown
    one = await graphql(
        client,
        f'query($id: ID!) {{ workflow(workspaceSlug: "acme", id: $id) {{ {FIELDS} }} }}',
        headers,
        id=workflow["id"],
    )
    assert _rest_shape(one["data"]["workflow"]) == as_graphql(rest["workflow"])

    updated = await graphql(
        client,
        f"""mutation($id: ID!) {{ updateWorkflow(workspaceSlug: "acme", id: $id,
              input: {{status: INACTIVE}}) {{ {FIELDS} }} }}""",
        headers,
        id=workflow["id"],
    )
    assert updated["data"]["updateWorkflow"]["status"] == "INACTIVE"
    rest = (await client.get(f"{WS}/workflows/{workflow['id']}", headers=headers)).json()
    assert _rest_shape(updated["data"]["updateWorkflow"]) == as_graphql(rest["workflow"])

    deleted = await graphql(
        client,
        'mutation($id: ID!) { deleteWorkflow(workspaceSlug: "acme", id: $id) { id } }',
        headers,
        id=workflow["id"],
    )
    assert deleted["data"]["deleteWorkflow"]["id"] == workflow["id"]
    missing = await graphql(
        client,
        'query($id: ID!) { workflow(workspaceSlug: "acme", id: $id) { id } }',
        headers,
        id=workflow["id"],
    )
    assert missing["errors"][0]["extensions"]["code"] == "WORKFLOW_NOT_FOUND"


async def test_validation_errors_carry_codes(client, tokens):
    headers = tokens.headers()
    mutation = """mutation($input: WorkflowInput!) {
        createWorkflow(workspaceSlug: "acme", input: $input) { id } }"""
    invalid = await graphql(
        client, mutation, headers, input={"name": "x", "actions": [{"type": "teleport"}]}
    )
    error = invalid["errors"][0]
    assert error["extensions"]["code"] == "WORKFLOW_INVALID"
    assert error["extensions"]["details"][0]["actionId"] == "action-1"
    bad_status = await graphql(
        client, mutation, headers, input={"name": "x", "status": "NOPE", "actions": ACTIONS}
    )
    assert bad_status["errors"][0]["extensions"]["code"] == "VALIDATION_ERROR"
    wrong_type = await graphql(client, mutation, headers, input={"name": 5, "actions": []})
    assert wrong_type["errors"][0]["extensions"]["code"] == "VALIDATION_ERROR"
    syntax = await graphql(client, "{ workflows(", headers)
    assert syntax["errors"][0]["extensions"]["code"] == "VALIDATION_ERROR"


async def test_alias_and_token_limits(client, tokens):
    headers = tokens.headers()
    aliases = " ".join(f"a{i}: me {{ id }}" for i in range(40))
    too_many = await graphql(client, f"{{ {aliases} }}", headers)
    assert "aliases" in too_many["errors"][0]["message"]
    assert too_many["errors"][0]["extensions"]["code"] == "VALIDATION_ERROR"
    huge = "{ " + " ".join(["me { id }"] * 800) + " }"
    tokens_error = await graphql(client, huge, headers)
    assert "token" in tokens_error["errors"][0]["message"].lower()


async def test_graphiql_is_served_on_get(client):
    response = await client.get("/graphql", headers={"Accept": "text/html"})
    assert response.status_code == 200
    assert "graphiql" in response.text.lower()


async def test_healthz(client, app):
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    app.state.hub.healthy = False  # what the watchdog records while the backend is down
    assert (await client.get("/healthz")).status_code == 503


async def test_graphql_bodies_are_size_limited(client, tokens):
    query = "{ me { id } }" + " " * 1_100_000
    response = await client.post("/graphql", json={"query": query}, headers=tokens.headers())
    assert response.status_code == 400
    (error,) = response.json()["errors"]
    assert error["extensions"]["code"] == "VALIDATION_ERROR"
    assert "larger than" in error["message"]

    async def chunked():  # no Content-Length: the limit counts what arrives
        yield b'{"query": "{ me { id } }", "pad": "'
        for _ in range(12):
            yield b"x" * 100_000
        yield b'"}'

    streamed = await client.post(
        "/graphql",
        content=chunked(),
        headers={**tokens.headers(), "Content-Type": "application/json"},
    )
    assert streamed.status_code == 400
    (error,) = streamed.json()["errors"]
    assert error["extensions"]["code"] == "VALIDATION_ERROR"
    assert "larger than" in error["message"]


async def test_unknown_routes_answer_json(client, tokens):
    missing = await client.get("/api/nothing/here", headers=tokens.headers())
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "NOT_FOUND"
    wrong = await client.put("/api/workspaces/acme/workflows", headers=tokens.headers())
    assert wrong.status_code == 405
    assert wrong.json()["error"]["code"] == "METHOD_NOT_ALLOWED"
