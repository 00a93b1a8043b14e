"""The SSE route's own rules: wire format, pings, 204 on a spent reconnect, auth and errors."""

from __future__ import annotations

import json
from typing import Any

import httpx

from tests.helpers import notify
from tests.streams.support import collect, sse_events, start_execution, stream_path, wait

WAIT = wait(700)
LONG_WAIT = wait(30_000)


async def raw_blocks(live: str, path: str, **request: Any) -> list[list[str]]:
    """The stream's blocks (events and comments), each as its lines, until the server ends."""
    blocks: list[list[str]] = [[]]
    async with (
        httpx.AsyncClient(base_url=live, timeout=10) as http,
        http.stream("GET", path, **request) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        async for line in response.aiter_lines():
            if line:
                blocks[-1].append(line)
            elif blocks[-1]:
                blocks.append([])
    return [block for block in blocks if block]


async def test_wire_format_ids_retry_and_pings(app, client, tokens, live):
    # The route reads the interval per request (the settings marker cannot set this field).
    app.state.settings = app.state.settings.with_overrides(sse_ping_seconds=0.2)
    execution = await start_execution(client, tokens.headers(), notify(), WAIT)
    blocks = await raw_blocks(
        live, stream_path(execution["id"]), params={"access_token": tokens.viewer}
    )

    connected = blocks[0]
    assert connected[0] == "event: connected"
    assert connected[2] == "retry: 3000"
    assert not any(line.startswith("id:") for line in connected)
    assert json.loads(connected[1].removeprefix("data: "))["executionId"] == execution["id"]
    assert [": ping"] in blocks  # the wait step leaves the stream idle for 0.7 s
    events = [block for block in blocks if block[0].startswith("id:")]
    assert [block[:2] for block in events] == [
        [f"id: {seq}", f"event: {kind}"]
        for seq, kind in enumerate(["step", "progress"] * 2 + ["complete"], start=1)
    ]
    assert all(len(block) == 3 and block[2].startswith("data: {") for block in events)


async def test_a_spent_reconnect_to_a_finished_execution_gets_204(client, tokens, live):
    execution = await start_execution(client, tokens.headers(), notify(), wait=True)
    full = await collect(sse_events(live, tokens.viewer, execution["id"]))
    last = full[-1].seq
    assert [event.type for event in full] == ["connected", "step", "progress", "complete"]
    assert last == 3

    async with httpx.AsyncClient(base_url=live) as http:
        path = stream_path(execution["id"])
        for last_event_id in ({"Last-Event-ID": str(last)}, {"Last-Event-ID": "99"}):
            response = await http.get(path, headers={**tokens.headers("viewer"), **last_event_id})
            assert response.status_code == 204, last_event_id
            assert response.content == b""
        query = {"lastEventId": str(last), "access_token": tokens.viewer}
        assert (await http.get(path, params=query)).status_code == 204
    resumed = await collect(sse_events(live, tokens.viewer, execution["id"], last - 1))
    assert [(event.seq, event.type) for event in resumed] == [(None, "connected"), (3, "complete")]


async def test_refusals_are_json_errors(client, tokens):
    running = await start_execution(client, tokens.headers(), LONG_WAIT)
    other = await start_execution(
        client, tokens.headers("outsider"), notify(), workspace="/api/workspaces/other"
    )
    path = stream_path(running["id"])

    viewer = tokens.headers("viewer")
    cases = [
        ({}, 401, "UNAUTHORIZED"),
        ({"headers": {"Authorization": "Bearer rc_not-a-token"}}, 401, "UNAUTHORIZED"),
        ({"params": {"access_token": "rc_not-a-token"}}, 401, "UNAUTHORIZED"),
        ({"headers": tokens.headers("outsider")}, 403, "FORBIDDEN"),
        ({"headers": {**viewer, "Last-Event-ID": "abc"}}, 400, "VALIDATION_ERROR"),
        ({"headers": {**viewer, "Last-Event-ID": "-1"}}, 400, "VALIDATION_ERROR"),
        ({"headers": viewer, "params": {"lastEventId": "7"}}, 400, "VALIDATION_ERROR"),
    ]
    for request, status, code in cases:
        response = await client.get(path, **request)
        assert response.status_code == status, request
        assert response.json()["error"]["code"] == code, request

    elsewhere = await client.get(stream_path(other["id"]), headers=tokens.headers("viewer"))
    assert elsewhere.status_code == 404
    assert elsewhere.json()["error"]["code"] == "EXECUTION_NOT_FOUND"
    missing = await client.get(stream_path("exec_missing"), headers=tokens.headers("viewer"))
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "EXECUTION_NOT_FOUND"
