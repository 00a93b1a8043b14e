"""Schedules on one node, on both configurations: backfill, DST, next runs, pause and
resume, overlap policies (see docs/triggers.md, "Schedules")."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from runcast.models import Schedule
from runcast.resolvers.schedule_sync import adopt_schedules
from tests.helpers import WS, create_workflow, graphql, notify

pytestmark = pytest.mark.settings(schedule_poll_seconds=0.1)


def schedule(cron: str, **fields: Any) -> dict[str, Any]:
    return {"type": "schedule", "cron": cron, **fields}


async def executions_of(
    client: httpx.AsyncClient, headers: dict[str, str], workflow_id: str
) -> list[dict[str, Any]]:
    """Every execution of the workflow, oldest scheduled tick first."""
    found: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": 100}
    while True:
        response = await client.get(
            f"{WS}/workflows/{workflow_id}/executions", params=params, headers=headers
        )
        assert response.status_code == 200, response.text
        body = response.json()
        found.extend(body["executions"])
        cursor = body["pagination"].get("nextCursor")
        if not cursor:
            break
        params = {"limit": 100, "cursor": cursor}
    return sorted(found, key=lambda e: e["triggerData"].get("scheduledAt", ""))


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def scheduled(executions: list[dict[str, Any]]) -> list[str]:
    return [e["triggerData"]["scheduledAt"] for e in executions]


async def test_backfill_starts_one_execution_per_tick_once(client, tokens):
    editor = tokens.headers("editor")
    workflow = await create_workflow(
        client, tokens.headers(), notify(), trigger=schedule("*/5 * * * *", paused=True)
    )
    path = f"{WS}/workflows/{workflow['id']}/backfill"
    body = {"from": "2026-01-01T00:00:00Z", "to": "2026-01-01T04:05:00Z"}

    response = await client.post(path, json=body, headers=editor)

    assert response.status_code == 202, response.text
    answer = response.json()
    assert (answer["ticks"], answer["started"]) == (50, 50)
    assert len(set(answer["executionIds"])) == 50
    executions = await executions_of(client, editor, workflow["id"])
    assert len(executions) == 50
    assert {e["triggerType"] for e in executions} == {"schedule"}
    ticks = [at(t) for t in scheduled(executions)]
    assert ticks[0] == datetime(2026, 1, 1, tzinfo=UTC)
    assert ticks[-1] == datetime(2026, 1, 1, 4, 5, tzinfo=UTC)
    assert all(b - a == timedelta(minutes=5) for a, b in itertools.pairwise(ticks))

    again = await client.post(path, json=body, headers=editor)
    assert again.status_code == 202
    assert (again.json()["ticks"], again.json()["started"]) == (50, 0)
    assert sorted(again.json()["executionIds"]) == sorted(answer["executionIds"])
    assert len(await executions_of(client, editor, workflow["id"])) == 50


async def test_backfill_is_bounded_and_checked(client, tokens):
    editor = tokens.headers("editor")
    workflow = await create_workflow(client, tokens.headers(), trigger=schedule("* * * * *"))
    path = f"{WS}/workflows/{workflow['id']}/backfill"

    one_too_many = {"from": "2026-01-01T00:00:00Z", "to": "2026-01-01T16:40:00Z"}  # 1,001
    too_many = await client.post(path, json=one_too_many, headers=editor)
    assert too_many.status_code == 422
    assert too_many.json()["error"]["code"] == "BACKFILL_TOO_LARGE"
    assert await executions_of(client, editor, workflow["id"]) == []
    for body in (
        {"from": "2026-01-02T00:00:00Z", "to": "2026-01-01T00:00:00Z"},
        {"from": "2026-01-01T00:00:00", "to": "2026-01-01T01:00:00Z"},
        {"from": "yesterday", "to": "2026-01-01T01:00:00Z"},
        {"to": "2026-01-01T01:00:00Z"},
        {"from": "2026-01-01T00:00:00Z", "to": "2026-01-01T01:00:00Z", "step": 1},
    ):
        response = await client.post(path, json=body, headers=editor)
        assert response.status_code == 400, body
        assert response.json()["error"]["code"] == "VALIDATION_ERROR"

    viewer = await client.post(
        path,
        json={"from": "2026-01-01T00:00:00Z", "to": "2026-01-01T00:01:00Z"},
        headers=tokens.headers("viewer"),
    )
    assert viewer.status_code == 403
    manual = await create_workflow(client, tokens.headers())
    for suffix in ("backfill", "schedule/pause", "schedule/resume"):
        response = await client.post(
            f"{WS}/workflows/{manual['id']}/{suffix}",
            json={"from": "2026-01-01T00:00:00Z", "to": "2026-01-01T00:01:00Z"},
            headers=tokens.headers(),
        )
        assert response.status_code == 409
        assert response.json()["error"]["code"] == "WORKFLOW_NOT_SCHEDULED"


async def backfilled(
    client: httpx.AsyncClient, tokens, trigger: dict[str, Any], start: str, end: str
) -> list[str]:
    workflow = await create_workflow(client, tokens.headers(), trigger=trigger)
    response = await client.post(
        f"{WS}/workflows/{workflow['id']}/backfill",
        json={"from": start, "to": end},
        headers=tokens.headers(),
    )
    assert response.status_code == 202, response.text
    return scheduled(await executions_of(client, tokens.headers(), workflow["id"]))


async def test_dst_gap_and_repeated_hour_follow_croniter(client, tokens):
    berlin = {"timezone": "Europe/Berlin", "paused": True}
    # Spring forward, 2026-03-29: 02:00 local jumps to 03:00 (UTC+1 → UTC+2).
    # A fixed time inside the gap fires at the first instant after it (03:00 local) ...
    daily = await backfilled(
        client,
        tokens,
        schedule("30 2 * * *", **berlin),
        "2026-03-28T00:00:00Z",
        "2026-03-30T12:00:00Z",
    )
    assert daily == [
        "2026-03-28T01:30:00.000Z",
        "2026-03-29T01:00:00.000Z",
        "2026-03-30T00:30:00.000Z",
    ]
    # ... while an hourly schedule has no 02:30 that day.
    hourly = await backfilled(
        client,
        tokens,
        schedule("30 * * * *", **berlin),
        "2026-03-28T23:00:00Z",
        "2026-03-29T03:00:00Z",
    )
    assert hourly == [
        "2026-03-28T23:30:00.000Z",  # 00:30 +01:00
        "2026-03-29T00:30:00.000Z",  # 01:30 +01:00
        "2026-03-29T01:30:00.000Z",  # 03:30 +02:00
        "2026-03-29T02:30:00.000Z",  # 04:30 +02:00
    ]
    # Fall back, 2026-10-25: 03:00 local goes back to 02:00 (UTC+2 → UTC+1). A time in the
    # repeated hour fires in both of its occurrences.
    repeated = await backfilled(
        client,
        tokens,
        schedule("30 2 * * *", **berlin),
        "2026-10-24T12:00:00Z",
        "2026-10-26T12:00:00Z",
    )
    assert repeated == [
        "2026-10-25T00:30:00.000Z",
        "2026-10-25T01:30:00.000Z",
        "2026-10-26T01:30:00.000Z",
    ]
    # A per-second schedule keeps real time through the change: no tick lost or doubled.
    seconds = await backfilled(
        client,
        tokens,
        schedule("* * * * * *", **berlin),
        "2026-10-25T00:59:58Z",
        "2026-10-25T01:00:02Z",
    )
    assert [at(t) for t in seconds] == [
        datetime(2026, 10, 25, 0, 59, 58, tzinfo=UTC) + timedelta(seconds=n) for n in range(5)
    ]


NEXT_RUNS = (
    """query($ws: String!, $id: ID!) { workflow(workspaceSlug: $ws, id: $id) { nextRuns } }"""
)


async def test_next_runs_in_both_apis_and_pause_resume(client, tokens):
    admin = tokens.headers()
    workflow = await create_workflow(
        client, admin, trigger=schedule("0 9 * * mon-fri", timezone="America/New_York")
    )
    runs = [at(t) for t in workflow["nextRuns"]]
    assert len(runs) == 5
    assert runs == sorted(runs) and runs[0] > datetime.now(UTC)
    for run in runs:
        local = run.astimezone(__import__("zoneinfo").ZoneInfo("America/New_York"))
        assert (local.hour, local.minute) == (9, 0) and local.weekday() < 5
    answer = await graphql(client, NEXT_RUNS, admin, ws="acme", id=workflow["id"])
    assert answer["data"]["workflow"]["nextRuns"] == workflow["nextRuns"]

    path = f"{WS}/workflows/{workflow['id']}/schedule"
    paused = await client.post(f"{path}/pause", headers=admin)
    assert paused.status_code == 200, paused.text
    assert paused.json()["workflow"]["trigger"]["paused"] is True
    assert paused.json()["workflow"]["nextRuns"] == []
    read = await client.get(f"{WS}/workflows/{workflow['id']}", headers=admin)
    assert read.json()["workflow"]["trigger"]["paused"] is True
    resumed = await client.post(f"{path}/resume", headers=admin)
    assert resumed.json()["workflow"]["trigger"]["paused"] is False
    assert resumed.json()["workflow"]["nextRuns"] == workflow["nextRuns"]
    manual = await create_workflow(client, admin)
    assert manual["nextRuns"] is None

    mutation = """mutation($ws: String!, $id: ID!) {
      pauseSchedule(workspaceSlug: $ws, workflowId: $id) { trigger nextRuns }
    }"""
    answer = await graphql(client, mutation, admin, ws="acme", id=workflow["id"])
    assert answer["data"]["pauseSchedule"] == {
        "trigger": {**workflow["trigger"], "paused": True},
        "nextRuns": [],
    }
    mutation = mutation.replace("pauseSchedule", "resumeSchedule")
    answer = await graphql(client, mutation, admin, ws="acme", id=workflow["id"])
    assert answer["data"]["resumeSchedule"]["nextRuns"] == workflow["nextRuns"]


async def test_graphql_backfill(client, tokens):
    workflow = await create_workflow(client, tokens.headers(), trigger=schedule("0 * * * *"))
    mutation = """mutation($ws: String!, $id: ID!, $from: DateTime!, $to: DateTime!) {
      backfillSchedule(workspaceSlug: $ws, workflowId: $id, from: $from, to: $to) {
        ticks started executionIds
      }
    }"""
    answer = await graphql(
        client,
        mutation,
        tokens.headers("editor"),
        ws="acme",
        id=workflow["id"],
        **{"from": "2026-01-01T00:00:00Z", "to": "2026-01-01T09:30:00Z"},
    )
    result = answer["data"]["backfillSchedule"]
    assert (result["ticks"], result["started"], len(result["executionIds"])) == (10, 10, 10)
    answer = await graphql(
        client,
        mutation,
        tokens.headers("editor"),
        ws="acme",
        id=workflow["id"],
        **{"from": "2026-01-01T00:00:00Z", "to": "2026-03-01T00:00:00Z"},
    )
    assert answer["errors"][0]["extensions"]["code"] == "BACKFILL_TOO_LARGE"


async def test_overlap_skip_and_buffer_one(client, tokens):
    """A per-second schedule whose run takes 1.5 s: `skip` starts a tick only when no run is
    under way; `buffer_one` keeps the first tick that came during a run and starts it when
    the run ends. Neither lets two runs overlap."""
    slow = {"type": "wait", "config": {"durationMs": 1500}}
    admin = tokens.headers()
    skip = await create_workflow(
        client, admin, slow, trigger=schedule("* * * * * *", overlap="skip")
    )
    buffer = await create_workflow(
        client, admin, slow, trigger=schedule("* * * * * *", overlap="buffer_one")
    )
    await asyncio.sleep(4.8)
    for workflow in (skip, buffer):
        await client.post(f"{WS}/workflows/{workflow['id']}/schedule/pause", headers=admin)

    for workflow in (skip, buffer):
        runs = await executions_of(client, admin, workflow["id"])
        assert 2 <= len(runs) <= (3 if workflow is skip else 4), (workflow["trigger"], runs)
        pairs = [(b, a) for b, a in itertools.pairwise(runs) if b["completedAt"]]
        assert pairs
        for before, after in pairs:
            assert at(after["startedAt"]) >= at(before["completedAt"])  # never overlapping
            tick = at(after["triggerData"]["scheduledAt"])
            if workflow is skip:
                # The ticks during the run started nothing: the next run is the first tick
                # at (or about) the end of the previous one.
                assert tick >= at(before["completedAt"]) - timedelta(seconds=0.5)
                assert tick - at(before["triggerData"]["scheduledAt"]) >= timedelta(seconds=2)
            else:
                # The next run is the first tick that came during the previous run, kept
                # and started when that run ended.
                assert tick < at(before["completedAt"])
                started = at(before["startedAt"])
                assert started - timedelta(seconds=0.5) < tick <= started + timedelta(seconds=1.2)


async def test_a_schedule_saved_before_schedules_existed_is_adopted(client, tokens):
    admin = tokens.headers()
    trigger = schedule("* * * * * *", overlap="allow")
    workflow = await create_workflow(client, admin, trigger=trigger)
    await Schedule.filter(workflow_id=workflow["id"]).delete()  # as stored before 0005
    await asyncio.sleep(0.3)
    before = scheduled(await executions_of(client, admin, workflow["id"]))
    await asyncio.sleep(1.2)
    assert scheduled(await executions_of(client, admin, workflow["id"])) == before

    assert await adopt_schedules() == 1

    await asyncio.sleep(2.5)
    ticks = [at(t) for t in scheduled(await executions_of(client, admin, workflow["id"]))]
    adopted = ticks[len(before) :]
    assert len(adopted) >= 2
    assert all(b - a == timedelta(seconds=1) for a, b in itertools.pairwise(adopted))
    assert await adopt_schedules() == 0
