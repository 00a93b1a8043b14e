"""`executionEvents` through graphql-ws (graphql-transport-ws) and subscriptions-transport-ws
(the older graphql-ws protocol) against a live server: ordered events, and the refusals."""

from __future__ import annotations

from typing import Any

import pytest

from tests.clients.support import EVENTS, by_name, ws_url
from tests.helpers import notify
from tests.streams.support import (
    expected_events,
    from_graphql,
    log_of,
    start_execution,
    status_of,
    wait,
)

OTHER = "/api/workspaces/other"
SCRIPTS = ["graphql-ws.mjs", "legacy-ws.mjs"]


def subscription(name: str, token: str | None, workspace: str, execution_id: str) -> dict[str, Any]:
    return {
        "name": name,
        "token": token,
        "document": EVENTS,
        "variables": {"ws": workspace, "id": execution_id},
    }


def error_codes(result: dict[str, Any]) -> list[str]:
    assert result["end"] == "error", result
    return [error["extensions"]["code"] for error in result["error"]["errors"]]


@pytest.mark.parametrize("script", SCRIPTS)
async def test_execution_events_through_the_client_library(
    client, tokens, live, node_clients, script
):
    running = await start_execution(
        client, tokens.headers(), wait(300), notify(), triggerData={"userId": "u1"}
    )
    elsewhere = await start_execution(client, tokens.headers("outsider"), notify(), workspace=OTHER)
    answer = await node_clients.run(
        script,
        {
            "url": ws_url(live),
            "subscriptions": [
                subscription("events", tokens.viewer, "acme", running["id"]),
                subscription("no token", None, "acme", running["id"]),
                subscription("bad token", "rc_not-a-token", "acme", running["id"]),
                subscription("not a member", tokens.outsider, "acme", running["id"]),
                subscription("elsewhere", tokens.viewer, "acme", elsewhere["id"]),
            ],
        },
    )
    assert "timedOut" not in answer, answer
    results = by_name(answer)

    events = results["events"]
    assert events["end"] == "complete", events
    assert all("errors" not in payload for payload in events["events"]), events
    received = [from_graphql(payload["data"]["executionEvents"]) for payload in events["events"]]
    assert received[0].data["executionId"] == running["id"]
    status = await status_of(client, tokens.viewer, running["id"])
    assert status["execution"]["status"] == "COMPLETED"
    assert log_of(received) == expected_events(status)
    assert [event.type for event in received] == [
        "connected",
        "step",
        "progress",
        "step",
        "progress",
        "complete",
    ]

    if script == "graphql-ws.mjs":
        for name in ("no token", "bad token"):
            assert results[name]["end"] == "error"
            assert results[name]["error"]["close"]["code"] == 4401, results[name]
        assert results["not a member"]["error"]["close"]["code"] == 4403
    else:
        for name in ("no token", "bad token"):
            assert results[name]["end"] == "connection_error", results[name]
            assert results[name]["error"]["payload"]["code"] == "UNAUTHORIZED"
        assert error_codes(results["not a member"]) == ["FORBIDDEN"]
    for name in ("no token", "bad token", "not a member"):
        assert results[name]["events"] == []
    assert error_codes(results["elsewhere"]) == ["EXECUTION_NOT_FOUND"]
    assert results["elsewhere"]["events"] == []
