"""Execution history over REST: filters, pagination, exact statistics, steps and scoping."""

from __future__ import annotations

import base64
import logging
import math
import random
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any

import pytest

from runcast.ids import new_id
from runcast.models import Execution, StepRun, Workflow, Workspace
from tests.helpers import WS, create_workflow, notify

STATUSES = ("PENDING", "RUNNING", "COMPLETED", "FAILED", "CANCELLED")
FINAL = {"COMPLETED", "FAILED", "CANCELLED"}
BASE = datetime(2024, 12, 1, tzinfo=UTC)
DAY = timedelta(days=1)


@dataclass(frozen=True)
class Seeded:
    id: str
    workflow_id: str
    status: str
    started_at: datetime
    duration_ms: int | None
    steps: tuple[str, ...]


def make_rows(workflow_id: str, count: int = 300, seed: int = 5) -> list[Seeded]:
    """Known statuses, start times (some shared, some with milliseconds) and durations."""
    rng = random.Random(seed)
    rows: list[Seeded] = []
    for i in range(count):
        status = rng.choices(STATUSES, weights=[3, 4, 70, 15, 8])[0]
        started = BASE + timedelta(
            minutes=rng.randrange(10 * 24 * 60), milliseconds=rng.choice([0, 250, 999])
        )
        if i % 40 == 1:
            started = rows[-1].started_at
        timed = status in FINAL and rng.random() > 0.05
        duration = rng.randrange(5, 20_000) if timed else None
        steps = tuple(rng.choice(["success", "failed", "skipped"]) for _ in range(i % 3))
        rows.append(Seeded(f"exec_{seed}_{i:04d}", workflow_id, status, started, duration, steps))
    return rows


async def seed(workspace_id: str, rows: list[Seeded]) -> None:
    await Execution.bulk_create(
        [
            Execution(
                id=row.id,
                workspace_id=workspace_id,
                workflow_id=row.workflow_id,
                status=row.status,
                created_at=row.started_at,
                started_at=row.started_at,
                completed_at=None
                if row.duration_ms is None
                else row.started_at + timedelta(milliseconds=row.duration_ms),
                duration_ms=row.duration_ms,
            )
            for row in rows
        ]
    )
    await StepRun.bulk_create(
        [
            StepRun(
                execution_id=row.id,
                position=position,
                action_id=f"action-{position + 1}",
                action_type="send_notification",
                status=status,
            )
            for row in rows
            for position, status in enumerate(row.steps)
        ]
    )


async def seeded_workflow(
    client, tokens, name: str = "Onboarding", count: int = 300, seed_: int = 5
) -> tuple[dict[str, Any], list[Seeded]]:
    """A workflow of workspace `acme` with `count` seeded executions."""
    workflow = await create_workflow(client, tokens.headers(), name=name)
    rows = make_rows(workflow["id"], count, seed_)
    await seed(workflow["workspaceId"], rows)
    return workflow, rows


def iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def select(
    rows: list[Seeded],
    statuses: tuple[str, ...] = (),
    start: datetime | None = None,
    end: datetime | None = None,
) -> list[Seeded]:
    """The rows a filter matches, newest first (then by id, descending)."""
    chosen = [
        r
        for r in rows
        if (not statuses or r.status in statuses)
        and (start is None or r.started_at >= start)
        and (end is None or r.started_at <= end)
    ]
    return sorted(chosen, key=lambda r: (r.started_at, r.id), reverse=True)


def half_up(value: Fraction, places: int = 0) -> float | int:
    scaled = math.floor(value * 10**places + Fraction(1, 2))
    return scaled if places == 0 else scaled / 10**places


def expected_statistics(rows: list[Seeded]) -> dict[str, Any]:
    """Nearest-rank percentiles: the value at rank ceil(p/100 * n) of the sorted durations."""
    counts = Counter(r.status for r in rows)
    durations = sorted(
        r.duration_ms for r in rows if r.status in FINAL and r.duration_ms is not None
    )
    n = len(durations)

    def percentile(p: int) -> int | None:
        return durations[math.ceil(Fraction(p * n, 100)) - 1] if n else None

    return {
        "total": len(rows),
        "byStatus": {s: counts[s] for s in STATUSES if counts[s]},
        "successRate": half_up(Fraction(100 * counts["COMPLETED"], len(rows)), 2) if rows else 0,
        "averageDurationMs": half_up(Fraction(sum(durations), n)) if n else None,
        "p50DurationMs": percentile(50),
        "p95DurationMs": percentile(95),
    }


def item_of(row: Seeded, workflow: dict[str, Any]) -> dict[str, Any]:
    completed = None
    if row.duration_ms is not None:
        completed = row.started_at + timedelta(milliseconds=row.duration_ms)
    return {
        "id": row.id,
        "workflowId": workflow["id"],
        "workspaceId": workflow["workspaceId"],
        "status": row.status,
        "triggeredBy": None,
        "triggerType": "manual",
        "triggerData": {},
        "variables": {},
        "startedAt": iso(row.started_at),
        "completedAt": iso(completed),
        "durationMs": row.duration_ms,
        "isSimulation": False,
        "error": None,
        "errorCode": None,
        "workflow": {"id": workflow["id"], "name": workflow["name"]},
    }


def without_cursor(pagination: dict[str, Any]) -> dict[str, Any]:
    """The seed's pagination fields; `nextCursor` is opaque, and followed instead."""
    return {key: value for key, value in pagination.items() if key != "nextCursor"}


async def assert_next_cursor(
    client, tokens, body: dict[str, Any], params: Any, following: list[Seeded]
) -> None:
    """`nextCursor` is null at the end; otherwise it reads the page that follows (the
    same filters, `cursor` in place of `offset`)."""
    cursor = body["pagination"]["nextCursor"]
    if not body["pagination"]["hasMore"]:
        assert cursor is None
        return
    assert isinstance(cursor, str)
    pairs = list(params.items()) if isinstance(params, dict) else list(params)
    pairs = [(k, v) for k, v in pairs if k != "offset"] + [("cursor", cursor)]
    workflow_id = body["executions"][0]["workflowId"]
    response = await client.get(
        f"{WS}/workflows/{workflow_id}/executions", params=pairs, headers=tokens.headers()
    )
    assert response.status_code == 200, response.text
    assert [e["id"] for e in response.json()["executions"]] == [r.id for r in following]


FILTERS: list[tuple[Any, tuple[str, ...], datetime | None, datetime | None]] = [
    ({}, (), None, None),
    ({"status": "COMPLETED"}, ("COMPLETED",), None, None),
    ({"status": "FAILED,CANCELLED"}, ("FAILED", "CANCELLED"), None, None),
    ([("status", "FAILED"), ("status", "running")], ("FAILED", "RUNNING"), None, None),
    ({"status": "PENDING,RUNNING"}, ("PENDING", "RUNNING"), None, None),
    ({"from": "2024-12-04T00:00:00Z"}, (), BASE + 3 * DAY, None),
    ({"from": "2024-12-04T02:00:00 02:00"}, (), BASE + 3 * DAY, None),
    ({"to": "2024-12-06T12:00:00+02:00"}, (), None, BASE + 5 * DAY + timedelta(hours=10)),
    (
        {"from": "2024-12-03", "to": "2024-12-08T00:00:00Z", "status": "COMPLETED,FAILED"},
        ("COMPLETED", "FAILED"),
        BASE + 2 * DAY,
        BASE + 7 * DAY,
    ),
    ({"to": "2024-11-30T23:59:59Z"}, (), None, BASE - timedelta(seconds=1)),
]


@pytest.mark.parametrize(("params", "statuses", "start", "end"), FILTERS)
async def test_listing_statistics_are_exact(client, tokens, params, statuses, start, end):
    workflow, rows = await seeded_workflow(client, tokens)
    await seeded_workflow(client, tokens, name="Other", count=40, seed_=7)
    chosen = select(rows, statuses, start, end)

    response = await client.get(
        f"{WS}/workflows/{workflow['id']}/executions", params=params, headers=tokens.headers()
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["statistics"] == expected_statistics(chosen)
    assert without_cursor(body["pagination"]) == {
        "total": len(chosen),
        "offset": 0,
        "limit": 20,
        "hasMore": len(chosen) > 20,
    }
    assert body["executions"] == [item_of(row, workflow) for row in chosen[:20]]
    await assert_next_cursor(client, tokens, body, params, chosen[20:40])


async def test_boundaries_are_inclusive(client, tokens):
    workflow, rows = await seeded_workflow(client, tokens)
    ordered = select(rows)
    newest, oldest = ordered[-30], ordered[-10]
    params = {
        "from": oldest.started_at.isoformat(),
        "to": newest.started_at.isoformat(),
        "limit": "100",
    }
    response = await client.get(
        f"{WS}/workflows/{workflow['id']}/executions", params=params, headers=tokens.headers()
    )
    assert response.status_code == 200, response.text
    body = response.json()
    chosen = select(rows, (), oldest.started_at, newest.started_at)
    ids = [e["id"] for e in body["executions"]]
    assert ids == [r.id for r in chosen]
    assert oldest.id in ids
    assert newest.id in ids
    assert body["statistics"] == expected_statistics(chosen)


@pytest.mark.parametrize(
    ("params", "offset", "limit", "size", "has_more"),
    [
        ({}, 0, 20, 20, True),
        ({"offset": "200", "limit": "100"}, 200, 100, 100, False),
        ({"offset": "199", "limit": "100"}, 199, 100, 100, True),
        ({"offset": "299", "limit": "5"}, 299, 5, 1, False),
        ({"offset": "300"}, 300, 20, 0, False),
        ({"offset": "1000", "limit": "100"}, 1000, 100, 0, False),
        ({"limit": "0"}, 0, 1, 1, True),
        ({"limit": "-3"}, 0, 1, 1, True),
        ({"limit": "1000"}, 0, 100, 100, True),
        ({"limit": "", "offset": ""}, 0, 20, 20, True),
    ],
)
async def test_pagination_edges(client, tokens, params, offset, limit, size, has_more):
    workflow, rows = await seeded_workflow(client, tokens)
    ordered = select(rows)
    response = await client.get(
        f"{WS}/workflows/{workflow['id']}/executions", params=params, headers=tokens.headers()
    )
    body = response.json()
    assert without_cursor(body["pagination"]) == {
        "total": 300,
        "offset": offset,
        "limit": limit,
        "hasMore": has_more,
    }
    assert [e["id"] for e in body["executions"]] == [r.id for r in ordered[offset:][:size]]
    assert body["statistics"] == expected_statistics(rows)
    following = ordered[offset + size :][:limit]
    await assert_next_cursor(client, tokens, body, {"limit": str(limit)}, following)


async def test_history_pages_carry_steps_loaded_in_one_query(client, tokens, caplog):
    workflow, rows = await seeded_workflow(client, tokens)
    chosen = select(rows, ("COMPLETED", "FAILED"))
    caplog.set_level(logging.DEBUG, logger="tortoise.db_client")
    caplog.set_level(logging.DEBUG, logger="runcast.sql")  # SQL sent around the ORM
    response = await client.get(
        f"{WS}/workflows/{workflow['id']}/history",
        params={"status": "COMPLETED,FAILED", "offset": "5", "limit": "30"},
        headers=tokens.headers("viewer"),
    )
    step_queries = [r for r in caplog.records if "step_run" in r.getMessage()]

    body = response.json()
    assert set(body) == {"executions", "pagination"}
    assert without_cursor(body["pagination"]) == {
        "total": len(chosen),
        "offset": 5,
        "limit": 30,
        "hasMore": True,
    }
    assert body["pagination"]["nextCursor"]
    page = chosen[5:35]
    assert [e["id"] for e in body["executions"]] == [r.id for r in page]
    for execution, row in zip(body["executions"], page, strict=True):
        assert [s["status"] for s in execution["steps"]] == list(row.steps)
        assert [s["actionId"] for s in execution["steps"]] == [
            f"action-{i + 1}" for i in range(len(row.steps))
        ]
        assert execution["workflow"] == {"id": workflow["id"], "name": workflow["name"]}
    assert len(step_queries) == 1


async def test_single_history_summarises_a_real_run(client, tokens):
    headers = tokens.headers()
    workflow = await create_workflow(
        client,
        headers,
        notify(),
        {"type": "create_task", "config": {"title": "Checklist"}},
        {
            "type": "call_api",
            "config": {"url": "http://127.0.0.1:9/hook", "method": "POST"},
            "onError": "continue",
        },
        notify("Second"),
        {"type": "create_task", "config": {"title": "Follow up"}},
        name="User Onboarding",
        description="Automated onboarding",
    )
    run = await client.post(
        f"{WS}/workflows/{workflow['id']}/execute",
        json={"triggerData": {"userId": "u1"}, "wait": True},
        headers=headers,
    )
    execution_id = run.json()["execution"]["id"]
    status = await client.get(f"{WS}/workflows/executions/{execution_id}", headers=headers)

    response = await client.get(
        f"{WS}/workflows/{workflow['id']}/history",
        params={"executionId": execution_id},
        headers=tokens.headers("viewer"),
    )

    assert response.status_code == 200
    execution = response.json()["execution"]
    assert execution["status"] == "COMPLETED"
    assert [s["status"] for s in execution["steps"]] == [
        "success",
        "success",
        "failed",
        "success",
        "success",
    ]
    assert execution["executionSummary"] == {
        "totalSteps": 5,
        "successfulSteps": 4,
        "failedSteps": 1,
        "skippedSteps": 0,
    }
    assert execution["workflow"] == {
        "id": workflow["id"],
        "name": "User Onboarding",
        "description": "Automated onboarding",
    }
    assert execution == {**status.json()["execution"], "workflow": execution["workflow"]}


async def test_single_history_counts_skipped_steps(client, tokens):
    workflow = await create_workflow(client, tokens.headers())
    row = Seeded("exec_skips", workflow["id"], "COMPLETED", BASE, 1200, ())
    await seed(workflow["workspaceId"], [row])
    await StepRun.bulk_create(
        [
            StepRun(execution_id=row.id, position=i, action_id=f"a{i}", action_type=t, status=s)
            for i, (t, s) in enumerate(
                [
                    ("send_notification", "success"),
                    ("condition", "success"),
                    ("create_task", "skipped"),
                    ("call_api", "skipped"),
                ]
            )
        ]
    )
    response = await client.get(
        f"{WS}/workflows/{workflow['id']}/history",
        params={"executionId": row.id},
        headers=tokens.headers(),
    )
    execution = response.json()["execution"]
    assert execution["executionSummary"] == {
        "totalSteps": 4,
        "successfulSteps": 2,
        "failedSteps": 0,
        "skippedSteps": 2,
    }
    assert execution["durationMs"] == 1200
    assert [s["actionType"] for s in execution["steps"]] == [
        "send_notification",
        "condition",
        "create_task",
        "call_api",
    ]


CURSOR = (
    base64.urlsafe_b64encode(b'["v1", "2024-12-05T00:00:00+00:00", "exec_5_0001"]')
    .decode()
    .rstrip("=")
)
"""A well-formed cursor, to give with `offset` (which it replaces)."""

BAD_VALUES = [
    ({"status": "BOGUS"}, "status"),
    ({"status": "COMPLETED,BOGUS"}, "status"),
    ({"limit": "abc"}, "limit"),
    ({"limit": "1.5"}, "limit"),
    ({"offset": "-1"}, "offset"),
    ({"offset": "abc"}, "offset"),
    ({"offset": "99999999999999"}, "offset"),
    ({"from": "yesterday"}, "from"),
    ({"to": "2024-13-01"}, "to"),
    ({"from": "0001-01-01T00:00:00+01:00"}, "from"),
    ({"from": "2024-12-05T00:00:00Z", "to": "2024-12-04T00:00:00Z"}, "from"),
    ({"cursor": "nope"}, "cursor"),
    ({"cursor": "eyJ2IjogMX0"}, "cursor"),
    ({"cursor": CURSOR, "offset": "0"}, "cursor"),
    ({"triggerType": "carrier-pigeon"}, "triggerType"),
    ({"search": "x" * 201}, "search"),
]


@pytest.mark.parametrize(("params", "field"), BAD_VALUES)
async def test_bad_values_are_400_naming_the_parameter(client, tokens, params, field):
    workflow = await create_workflow(client, tokens.headers())
    for route in ("executions", "history"):
        response = await client.get(
            f"{WS}/workflows/{workflow['id']}/{route}", params=params, headers=tokens.headers()
        )
        assert response.status_code == 400, (route, response.text)
        error = response.json()["error"]
        assert error["code"] == "VALIDATION_ERROR"
        assert error["message"].startswith(f"{field}: ")
        assert error["details"] == [{"field": field}]


async def test_workspace_scoping(client, tokens):
    workflow, _ = await seeded_workflow(client, tokens, count=5)
    other_workspace = await Workspace.get(slug="other")
    foreign = await Workflow.create(
        id=new_id("wf"), workspace=other_workspace, name="Theirs", actions=[notify()]
    )
    foreign_rows = make_rows(foreign.id, 3, seed=8)
    await seed(other_workspace.id, foreign_rows)
    _, sibling_rows = await seeded_workflow(client, tokens, name="Sibling", count=2, seed_=9)
    headers = tokens.headers()

    for route in ("executions", "history"):
        for workflow_id in (foreign.id, "wf_missing"):
            response = await client.get(f"{WS}/workflows/{workflow_id}/{route}", headers=headers)
            assert response.status_code == 404
            assert response.json()["error"]["code"] == "WORKFLOW_NOT_FOUND"
        url = f"{WS}/workflows/{workflow['id']}/{route}"
        outsider = await client.get(url, headers=tokens.headers("outsider"))
        assert outsider.status_code == 403
        assert outsider.json()["error"]["code"] == "FORBIDDEN"
        assert (await client.get(url)).status_code == 401
        assert (await client.get(url, headers=tokens.headers("viewer"))).status_code == 200

    for execution_id in (foreign_rows[0].id, sibling_rows[0].id, "exec_missing"):
        response = await client.get(
            f"{WS}/workflows/{workflow['id']}/history",
            params={"executionId": execution_id},
            headers=headers,
        )
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "EXECUTION_NOT_FOUND"
