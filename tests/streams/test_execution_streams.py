"""One execution, three transports (SSE, graphql-transport-ws, graphql-ws): the same events.

Each test runs an execution and watches it through every transport at once, so each stream
is compared with the seed's shapes, with the execution's own status answer and with the
other transports.
"""

from __future__ import annotations

import asyncio
from functools import partial
from typing import Any

from runcast.events.bus import execution_channel
from runcast.store.reads import events_after
from tests.helpers import WS, notify
from tests.streams.support import (
    TRANSPORTS,
    Reader,
    Received,
    Transport,
    collect,
    eventually,
    expected_events,
    log_of,
    sse_events,
    start_execution,
    status_of,
    wait,
)

TASK = {"type": "create_task", "config": {"title": "Checklist", "priority": "HIGH"}}


async def start(client, tokens, *actions: dict[str, Any], **body: Any) -> str:
    return str((await start_execution(client, tokens.headers(), *actions, **body))["id"])


def readers(live: str, token: str, execution_id: str) -> dict[str, Reader]:
    return {name: Reader(events(live, token, execution_id)) for name, events in TRANSPORTS.items()}


async def results(watching: dict[str, Reader]) -> dict[str, list]:
    return {name: await reader.result() for name, reader in watching.items()}


def assert_connected(received: list, execution_id: str) -> None:
    connected = received[0]
    assert connected.type == "connected"
    assert set(connected.data) == {"executionId", "timestamp"}
    assert connected.data["executionId"] == execution_id
    assert connected.data["timestamp"].endswith("Z")


async def test_a_completed_execution_streams_the_seed_events(client, tokens, live, hub):
    execution_id = await start(client, tokens, notify(), wait(300), TASK)
    watching = readers(live, tokens.viewer, execution_id)
    streams = await results(watching)

    status = await status_of(client, tokens.viewer, execution_id)
    assert status["execution"]["status"] == "COMPLETED"
    expected = expected_events(status)
    assert [kind for kind, _ in expected] == ["step", "progress"] * 3 + ["complete"]
    assert [data["percentage"] for kind, data in expected if kind == "progress"] == [33, 67, 100]
    for received in streams.values():
        assert_connected(received, execution_id)
        assert log_of(received) == expected
    stored = await events_after(execution_id, 0)
    assert [(e.type, e.data) for e in stored] == expected
    await eventually(lambda: not hub.holds(execution_channel(execution_id)))


async def test_a_failed_execution_sends_error_before_complete(
    client, tokens, live, refusing_action
):
    execution_id = await start(
        client, tokens, notify(), wait(300), {"type": refusing_action, "config": {}}, TASK
    )
    streams = await results(readers(live, tokens.viewer, execution_id))

    status = await status_of(client, tokens.viewer, execution_id)
    expected = expected_events(status)
    assert [data["status"] for kind, data in expected if kind == "step"] == [
        "success",
        "success",
        "failed",
        "skipped",
    ]
    assert expected[-2:] == [
        ("error", {"message": "Execution failed: Action action-3 failed: card declined"}),
        ("complete", expected[-1][1]),
    ]
    assert expected[-1][1]["status"] == "FAILED"
    assert expected[4][1]["error"] == "card declined"
    for received in streams.values():
        assert log_of(received) == expected


async def test_a_cancelled_execution_ends_with_complete_cancelled(client, tokens, live):
    execution_id = await start(client, tokens, notify(), wait(30_000), TASK)
    watching = readers(live, tokens.viewer, execution_id)
    await eventually(lambda: all(len(r.received) >= 3 for r in watching.values()))
    response = await client.delete(
        f"{WS}/workflows/executions/{execution_id}", headers=tokens.headers("editor")
    )
    assert response.status_code == 200
    streams = await results(watching)

    status = await status_of(client, tokens.viewer, execution_id)
    expected = expected_events(status)
    assert [data["status"] for kind, data in expected if kind == "step"] == [
        "success",
        "cancelled",
        "skipped",
    ]
    assert [kind for kind, _ in expected][-1] == "complete"
    assert "error" not in [kind for kind, _ in expected]
    assert expected[-1][1]["status"] == "CANCELLED"
    for received in streams.values():
        assert log_of(received) == expected


async def test_a_dry_run_streams_simulated_steps(client, tokens, live):
    call = {"type": "call_api", "config": {"url": "https://api.example.com/hook", "method": "POST"}}
    execution_id = await start(client, tokens, notify(), wait(300), call, TASK, dryRun=True)
    streams = await results(readers(live, tokens.viewer, execution_id))

    status = await status_of(client, tokens.viewer, execution_id)
    assert status["execution"]["isSimulation"] is True
    expected = expected_events(status)
    steps = [data for kind, data in expected if kind == "step"]
    assert [step["status"] for step in steps] == ["success"] * 4
    assert steps[2]["output"]["simulated"] is True
    assert expected[-1][1]["status"] == "COMPLETED"
    for received in streams.values():
        assert log_of(received) == expected


async def test_joining_half_way_or_after_the_end_shows_every_event(client, tokens, live):
    execution_id = await start(client, tokens, notify(), wait(300), wait(300), TASK)
    while len(await events_after(execution_id, 0)) < 4:  # noqa: ASYNC110 - two of four steps done
        await asyncio.sleep(0.01)
    late = await results(readers(live, tokens.viewer, execution_id))
    after_the_end = await results(readers(live, tokens.viewer, execution_id))

    expected = expected_events(await status_of(client, tokens.viewer, execution_id))
    assert len(expected) == 9
    for received in [*late.values(), *after_the_end.values()]:
        assert log_of(received) == expected


async def test_a_reconnect_after_the_second_event_resumes_exactly_once(client, tokens, live, hub):
    execution_id = await start(client, tokens, notify(), wait(300), wait(300), TASK)
    transports = {**TRANSPORTS, "sse ?lastEventId": partial(sse_events, via_query=True)}

    async def disconnect_and_resume(events: Transport) -> list[Received]:
        first = await collect(events(live, tokens.viewer, execution_id), limit=3)
        assert [event.type for event in first] == ["connected", "step", "progress"]
        rest = await collect(events(live, tokens.viewer, execution_id, first[-1].seq))
        assert rest[0].type == "connected"
        return first[1:] + rest[1:]

    seen = await asyncio.gather(*(disconnect_and_resume(t) for t in transports.values()))

    expected = expected_events(await status_of(client, tokens.viewer, execution_id))
    for events in seen:
        assert [event.seq for event in events] == list(range(1, len(expected) + 1))
        assert [(event.type, event.data) for event in events] == expected
    await eventually(lambda: not hub.holds(execution_channel(execution_id)))
