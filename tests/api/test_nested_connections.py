"""Nested listings: `Workflow.executions` and `Workspace.executions` page like
`Query.executions`, with their executions' workflows and steps loaded in batches."""

from __future__ import annotations

import logging
from typing import Any

from tests.api.test_history import Seeded, seeded_workflow, select
from tests.api.test_nodes import QUIET
from tests.helpers import graphql

NODE_FIELDS = "id status workflow { id name } steps { actionId status }"

WORKFLOW = f"""
query($id: ID!, $first: Int, $after: String) {{
  node(id: $id) {{
    ... on Workflow {{
      executions(first: $first, after: $after) {{
        edges {{ cursor node {{ {NODE_FIELDS} }} }}
        pageInfo {{ hasNextPage endCursor }}
        totalCount
      }}
    }}
  }}
}}
"""

WORKSPACE = f"""
query($first: Int) {{
  workspace(slug: "acme") {{
    executions(first: $first) {{
      edges {{ node {{ {NODE_FIELDS} workflow {{ statistics {{ total }} }} }} }}
      totalCount
    }}
  }}
}}
"""


def shown(row: Seeded, name: str) -> dict[str, Any]:
    return {
        "id": row.id,
        "status": row.status,
        "workflow": {"id": row.workflow_id, "name": name},
        "steps": [
            {"actionId": f"action-{i + 1}", "status": status.upper()}
            for i, status in enumerate(row.steps)
        ],
    }


async def test_a_workflows_executions_page_with_cursors(client, tokens):
    workflow, rows = await seeded_workflow(client, tokens, count=45)
    await seeded_workflow(client, tokens, name="Other", count=10, seed_=8)
    newest = select(rows)
    seen: list[dict[str, Any]] = []
    after = None
    while True:
        answer = await graphql(
            client, WORKFLOW, tokens.headers("viewer"), id=workflow["id"], first=20, after=after
        )
        assert "errors" not in answer, answer["errors"]
        page = answer["data"]["node"]["executions"]
        assert page["totalCount"] == 45
        seen.extend(edge["node"] for edge in page["edges"])
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == [shown(row, "Onboarding") for row in newest]


@QUIET
async def test_a_workspace_page_of_a_hundred_is_a_fixed_number_of_statements(
    client, tokens, caplog
):
    first, rows = await seeded_workflow(client, tokens, count=70, seed_=3)
    second, more = await seeded_workflow(client, tokens, name="Second", count=70, seed_=4)
    names = {first["id"]: "Onboarding", second["id"]: "Second"}
    newest = select([*rows, *more])

    async def statements(size: int) -> int:
        caplog.clear()
        caplog.set_level(logging.DEBUG, logger="tortoise.db_client")
        caplog.set_level(logging.DEBUG, logger="runcast.sql")
        answer = await graphql(client, WORKSPACE, tokens.headers("viewer"), first=size)
        assert "errors" not in answer, answer["errors"]
        page = answer["data"]["workspace"]["executions"]
        assert page["totalCount"] == 140
        nodes = [edge["node"] for edge in page["edges"]]
        assert [{k: v for k, v in n.items() if k != "workflow"} for n in nodes] == [
            {k: v for k, v in shown(r, "").items() if k != "workflow"} for r in newest[:size]
        ]
        for node, row in zip(nodes, newest, strict=False):
            assert node["workflow"]["id"] == row.workflow_id
            assert node["workflow"]["name"] == names[row.workflow_id]
            assert node["workflow"]["statistics"] == {"total": 70}
        return sum(1 for r in caplog.records if "SELECT" in r.getMessage().upper())

    hundred = await statements(100)
    five = await statements(5)
    assert hundred == five, (hundred, five)
    assert hundred <= 8, hundred
