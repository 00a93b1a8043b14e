"""Small builders used across the tests."""

from __future__ import annotations

from typing import Any

import httpx

WS = "/api/workspaces/acme"


def notify(message: str = "Welcome!", recipient: str = "{{trigger.userId}}") -> dict[str, Any]:
    return {"type": "send_notification", "config": {"message": message, "recipient": recipient}}


def workflow_body(*actions: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"name": "Onboarding", "actions": list(actions) or [notify()], **fields}


async def create_workflow(
    client: httpx.AsyncClient, headers: dict[str, str], *actions: dict[str, Any], **fields: Any
) -> dict[str, Any]:
    response = await client.post(
        f"{WS}/workflows", json=workflow_body(*actions, **fields), headers=headers
    )
    assert response.status_code == 201, response.text
    return response.json()["workflow"]


async def graphql(
    client: httpx.AsyncClient, query: str, headers: dict[str, str] | None = None, **variables: Any
) -> dict[str, Any]:
    response = await client.post(
        "/graphql", json={"query": query, "variables": variables}, headers=headers or {}
    )
    assert response.status_code == 200, response.text
    return response.json()
