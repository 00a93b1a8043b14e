"""Apollo Client against a live server: queries, a mutation, the normalized cache, error codes."""

from __future__ import annotations

from typing import Any

from tests.clients.support import EXECUTION_FIELDS, by_name, codes, graphql_url
from tests.helpers import create_workflow, notify
from tests.streams.support import wait

WORKFLOWS = 'query Workflows { workflows(workspaceSlug: "acme") { id name actions { id type } } }'
EXECUTE = f"""
mutation Execute($workflowId: ID!, $input: ExecuteInput) {{
  executeWorkflow(workspaceSlug: "acme", workflowId: $workflowId, input: $input) {{
    {EXECUTION_FIELDS}
  }}
}}
"""
EXECUTION = f"""
query Execution($ws: String!, $id: ID!) {{
  execution(workspaceSlug: $ws, id: $id) {{ {EXECUTION_FIELDS} }}
}}
"""


def executed_in(workspace: str) -> dict[str, Any]:
    """Variables naming `workspace` and the execution the `execute` operation started."""
    return {"ws": workspace, "id": {"$from": ["execute", "executeWorkflow", "id"]}}


def operation(name: str, client: str, document: str, **fields: Any) -> dict[str, Any]:
    kind = "mutation" if document.lstrip().startswith("mutation") else "query"
    return {"name": name, "client": client, "kind": kind, "document": document, **fields}


async def test_apollo_client_sees_one_normalized_execution_and_coded_errors(
    client, tokens, live, node_clients
):
    workflow = await create_workflow(client, tokens.headers(), wait(150), notify())
    answer = await node_clients.run(
        "apollo.mjs",
        {
            "url": graphql_url(live),
            "clients": {"editor": tokens.editor, "outsider": tokens.outsider, "anonymous": None},
            "operations": [
                operation("workflows", "editor", WORKFLOWS),
                operation(
                    "execute",
                    "editor",
                    EXECUTE,
                    variables={"workflowId": workflow["id"], "input": {"triggerData": {"u": 1}}},
                ),
                operation(
                    "finished",
                    "editor",
                    EXECUTION,
                    variables=executed_in("acme"),
                    until={"path": ["execution", "status"], "oneOf": ["COMPLETED", "FAILED"]},
                ),
                operation("elsewhere", "outsider", EXECUTION, variables=executed_in("other")),
                operation("not a member", "outsider", EXECUTION, variables=executed_in("acme")),
                operation("anonymous", "anonymous", WORKFLOWS),
            ],
        },
    )
    assert "timedOut" not in answer, answer
    results = by_name(answer)

    listed = results["workflows"]
    assert "errors" not in listed, listed["errors"]
    assert listed["data"]["workflows"] == [
        {
            "__typename": "Workflow",
            "id": workflow["id"],
            "name": "Onboarding",
            "actions": [
                {"__typename": "Action", "id": f"{workflow['id']}:action-1", "type": "wait"},
                {
                    "__typename": "Action",
                    "id": f"{workflow['id']}:action-2",
                    "type": "send_notification",
                },
            ],
        }
    ]
    assert listed["cache"]["ROOT_QUERY"]['workflows({"workspaceSlug":"acme"})'] == [
        {"__ref": f"Workflow:{workflow['id']}"}
    ]

    executed = results["execute"]
    assert "errors" not in executed, executed["errors"]
    started = executed["data"]["executeWorkflow"]
    key = f"Execution:{started['id']}"
    assert started["workflowId"] == workflow["id"]
    assert started["status"] in ("PENDING", "RUNNING")
    assert executed["cache"][key]["status"] == started["status"]

    finished = results["finished"]
    assert "errors" not in finished, finished["errors"]
    cache = finished["cache"]
    executions = [name for name in cache if name.startswith("Execution:")]
    assert executions == [key]
    assert cache["ROOT_QUERY"][f'execution({{"id":"{started["id"]}","workspaceSlug":"acme"}})'] == {
        "__ref": key
    }
    entry = cache[key]
    assert entry["status"] == "COMPLETED"
    assert entry["error"] is None
    assert entry["progress"] == {
        "__typename": "Progress",
        "totalSteps": 2,
        "completedSteps": 2,
        "percentage": 100,
    }
    assert [(step["actionId"], step["status"]) for step in entry["steps"]] == [
        ("action-1", "SUCCESS"),
        ("action-2", "SUCCESS"),
    ]
    assert finished["data"]["execution"] == {
        name: value for name, value in entry.items() if name != "__typename"
    } | {"__typename": "Execution"}

    for name, code in [
        ("elsewhere", "EXECUTION_NOT_FOUND"),
        ("not a member", "FORBIDDEN"),
        ("anonymous", "UNAUTHORIZED"),
    ]:
        refused = results[name]
        assert codes(refused) == [code], refused
        assert refused["data"] is None
        assert not any(entry.startswith("Execution:") for entry in refused["cache"]), refused


async def test_apollo_client_shows_each_workflows_own_actions(client, tokens, live, node_clients):
    """`Action.id` is global (`<workflowId>:<actionId>`), so the normalized cache keeps one
    entry per action of each workflow instead of sharing every workflow's `action-1`."""
    notifying = await create_workflow(client, tokens.headers(), notify())
    waiting = await create_workflow(client, tokens.headers(), wait(10))
    answer = await node_clients.run(
        "apollo.mjs",
        {
            "url": graphql_url(live),
            "clients": {"viewer": tokens.viewer},
            "operations": [operation("workflows", "viewer", WORKFLOWS)],
        },
    )
    listed = by_name(answer)["workflows"]
    assert "errors" not in listed, listed["errors"]
    actions = {w["id"]: [a["type"] for a in w["actions"]] for w in listed["data"]["workflows"]}
    assert actions == {notifying["id"]: ["send_notification"], waiting["id"]: ["wait"]}
    cached = sorted(key for key in listed["cache"] if key.startswith("Action:"))
    assert cached == sorted(f"Action:{w['id']}:action-1" for w in (notifying, waiting))


PAGE = """
query Page($workflowId: ID!, $after: String) {
  executions(workspaceSlug: "acme", first: 3, after: $after, filter: {workflowId: $workflowId}) {
    edges { cursor node { id status } }
    pageInfo { hasNextPage endCursor }
  }
}
"""


async def test_apollo_pages_by_cursor_while_executions_are_inserted(
    client, tokens, live, node_clients
):
    workflow = await create_workflow(client, tokens.headers(), notify())
    editor = tokens.headers("editor")
    url = f"/api/workspaces/acme/workflows/{workflow['id']}/execute"
    seeded = []
    for _ in range(7):
        response = await client.post(url, json={}, headers=editor)
        assert response.status_code == 201, response.text
        seeded.append(response.json()["execution"]["id"])
    insert = operation("insert", "editor", EXECUTE, variables={"workflowId": workflow["id"]})

    def page(name: str, after: str | None) -> dict[str, Any]:
        cursor = (
            None if after is None else {"$from": [after, "executions", "pageInfo", "endCursor"]}
        )
        return operation(
            name, "editor", PAGE, variables={"workflowId": workflow["id"], "after": cursor}
        )

    answer = await node_clients.run(
        "apollo.mjs",
        {
            "url": graphql_url(live),
            "clients": {"editor": tokens.editor},
            "operations": [
                page("first", None),
                {**insert, "name": "insert-1"},
                {**insert, "name": "insert-2"},
                page("second", "first"),
                {**insert, "name": "insert-3"},
                page("third", "second"),
            ],
        },
    )
    assert "timedOut" not in answer, answer
    results = by_name(answer)
    pages = [results[name] for name in ("first", "second", "third")]
    for result in pages:
        assert "errors" not in result, result["errors"]
    seen = [edge["node"]["id"] for r in pages for edge in r["data"]["executions"]["edges"]]
    # Newest first, each seeded execution exactly once; the ones inserted meanwhile are newer
    # than the cursor, so they neither shift nor repeat a row.
    assert seen == list(reversed(seeded))
    assert [r["data"]["executions"]["pageInfo"]["hasNextPage"] for r in pages] == [
        True,
        True,
        False,
    ]
    inserted = {results[f"insert-{n}"]["data"]["executeWorkflow"]["id"] for n in (1, 2, 3)}
    assert not inserted & set(seen)
    cache = pages[-1]["cache"]
    assert all(f"Execution:{execution_id}" in cache for execution_id in seeded)
