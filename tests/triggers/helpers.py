"""Builders shared by the trigger tests."""

from __future__ import annotations

from typing import Any

import httpx

from tests.helpers import WS

CHEAP = {"type": "condition", "config": {"field": "trigger.n", "operator": "exists"}}
"""One action that reads its trigger data and writes nothing but its step."""


async def make_workflow(
    client: httpx.AsyncClient, headers: dict[str, str], trigger: dict[str, Any], **fields: Any
) -> dict[str, Any]:
    body = {"name": "Triggered", "trigger": trigger, "actions": [CHEAP], **fields}
    response = await client.post(f"{WS}/workflows", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()["workflow"]


async def executions_of(
    client: httpx.AsyncClient, headers: dict[str, str], workflow_id: str
) -> list[dict[str, Any]]:
    """Every execution of the workflow (up to 100), newest first."""
    response = await client.get(
        f"{WS}/workflows/{workflow_id}/executions", params={"limit": 100}, headers=headers
    )
    assert response.status_code == 200, response.text
    return list(response.json()["executions"])
