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


ENUM_FIELDS = {"status", "triggerType", "onError", "role"}
OPEN_JSON = {"triggerData", "variables", "output", "config", "trigger"}
EXECUTION_STATUSES = ("PENDING", "RUNNING", "COMPLETED", "FAILED", "CANCELLED")


def as_graphql(rest: Any) -> Any:
    """A REST answer as GraphQL shows the same data (API.md, GraphQL): an enum by its
    member's name (`success` → `SUCCESS`), `byStatus` with a count for every status.
    Open JSON is left as it is."""
    if isinstance(rest, list):
        return [as_graphql(item) for item in rest]
    if not isinstance(rest, dict):
        return rest
    shown: dict[str, Any] = {}
    for key, value in rest.items():
        if key in OPEN_JSON:
            shown[key] = value
        elif key in ENUM_FIELDS and isinstance(value, str):
            shown[key] = value.upper()
        elif key == "byStatus":
            shown[key] = {status.lower(): value.get(status, 0) for status in EXECUTION_STATUSES}
        else:
            shown[key] = as_graphql(value)
    return shown
