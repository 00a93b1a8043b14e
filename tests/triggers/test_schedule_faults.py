"""Schedules and odd input, on both configurations: a cron whose date never comes, stored
triggers that have no ticks, backfill ranges out of bounds or reversed in either API, who
may pause, and `nextRuns` worked out only when it is answered (see docs/triggers.md)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from runcast.models import Schedule, Workflow
from runcast.resolvers import records as to_record
from runcast.resolvers.schedule_sync import adopt_schedules
from tests.helpers import WS, create_workflow, graphql, workflow_body

pytestmark = pytest.mark.settings(schedule_poll_seconds=0.1)

BACKFILL = """mutation($ws: String!, $id: ID!, $from: DateTime!, $to: DateTime!) {
  backfillSchedule(workspaceSlug: $ws, workflowId: $id, from: $from, to: $to) { ticks started }
}"""


def schedule(cron: Any, **fields: Any) -> dict[str, Any]:
    return {"type": "schedule", "cron": cron, **fields}


def error_of(response: httpx.Response) -> tuple[int, str, str | None]:
    error = response.json()["error"]
    return response.status_code, error["code"], error.get("details", [{}])[0].get("field")


async def names(client: httpx.AsyncClient, headers: dict[str, str]) -> list[str]:
    response = await client.get(f"{WS}/workflows", headers=headers)
    assert response.status_code == 200, response.text
    return [w["name"] for w in response.json()["workflows"]]


@pytest.mark.parametrize("cron", ["0 0 30 2 *", "0 0 31 4 *", "0 0 30 2 * 5"])
async def test_a_cron_for_a_date_that_never_comes_is_refused(client, tokens, cron):
    admin = tokens.headers()
    body = workflow_body(name="never", trigger=schedule(cron))

    created = await client.post(f"{WS}/workflows", json=body, headers=admin)

    assert error_of(created) == (422, "WORKFLOW_INVALID", "trigger.cron")
    assert "never" not in await names(client, admin)
    workflow = await create_workflow(client, admin, trigger=schedule("0 0 * * *"))
    changed = await client.patch(
        f"{WS}/workflows/{workflow['id']}", json={"trigger": schedule(cron)}, headers=admin
    )
    assert error_of(changed) == (422, "WORKFLOW_INVALID", "trigger.cron")
    mutation = """mutation($ws: String!, $input: WorkflowInput!) {
      createWorkflow(workspaceSlug: $ws, input: $input) { id }
    }"""
    answer = await graphql(client, mutation, admin, ws="acme", input=body)
    assert answer["errors"][0]["extensions"]["code"] == "WORKFLOW_INVALID"
    assert answer["errors"][0]["extensions"]["details"][0]["field"] == "trigger.cron"
    assert await names(client, admin) == [workflow["name"]]


STORED_UNCHECKED = {
    "feb 30": schedule("0 0 30 2 *"),
    "no cron": {"type": "schedule"},
    "cron of another type": schedule(5),
    "unknown zone": schedule("* * * * *", timezone="Mars/Olympus"),
    "zone of another type": schedule("* * * * *", timezone=7),
}
"""Schedule triggers as stored before triggers were checked as they are now."""


async def test_stored_triggers_without_ticks_leave_listings_and_adoption_working(client, tokens):
    admin = tokens.headers()
    for name, trigger in STORED_UNCHECKED.items():
        workflow = await create_workflow(client, admin, name=name, trigger=schedule("0 0 * * *"))
        await Workflow.filter(id=workflow["id"]).update(trigger=trigger)
        await Schedule.filter(workflow_id=workflow["id"]).delete()
    valid = await create_workflow(client, admin, name="valid", trigger=schedule("0 0 * * *"))
    await Schedule.filter(workflow_id=valid["id"]).delete()

    listed = await client.get(f"{WS}/workflows", headers=admin)
    assert listed.status_code == 200, listed.text
    runs = {w["name"]: w["nextRuns"] for w in listed.json()["workflows"]}
    assert len(runs.pop("valid")) == 5
    assert runs == {name: [] for name in STORED_UNCHECKED}
    answer = await graphql(
        client, 'query { workflows(workspaceSlug: "acme") { name nextRuns } }', admin
    )
    assert "errors" not in answer, answer
    shown = {w["name"]: w["nextRuns"] for w in answer["data"]["workflows"]}
    assert len(shown.pop("valid")) == 5
    assert shown == runs

    assert await adopt_schedules() == 1
    assert await Schedule.filter(workflow_id=valid["id"]).exists()
    assert await Schedule.all().count() == 1

    broken = next(w for w in listed.json()["workflows"] if w["name"] == "feb 30")
    path = f"{WS}/workflows/{broken['id']}"
    paused = await client.post(f"{path}/schedule/pause", headers=admin)
    assert error_of(paused) == (422, "WORKFLOW_INVALID", "trigger.cron")
    backfill = {"from": "2026-01-01T00:00:00Z", "to": "2026-01-02T00:00:00Z"}
    backfilled = await client.post(f"{path}/backfill", json=backfill, headers=admin)
    assert error_of(backfilled) == (422, "WORKFLOW_INVALID", "trigger.cron")


@pytest.mark.parametrize(
    ("start", "end", "field"),
    [
        ("0001-01-01T00:00:00Z", "2026-01-01T00:00:00Z", "from"),
        ("1969-12-31T23:59:59Z", "2026-01-01T00:00:00Z", "from"),
        ("2026-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "to"),
        ("9999-01-01T00:00:00Z", "9999-06-01T00:00:00Z", "from"),
        ("2026-01-02T00:00:00Z", "2026-01-01T00:00:00Z", "from"),
    ],
)
async def test_backfill_ranges_are_checked_alike_in_both_apis(client, tokens, start, end, field):
    editor = tokens.headers("editor")
    workflow = await create_workflow(
        client, tokens.headers(), trigger=schedule("0 0 * * *", paused=True)
    )
    rest = await client.post(
        f"{WS}/workflows/{workflow['id']}/backfill",
        json={"from": start, "to": end},
        headers=editor,
    )
    assert error_of(rest) == (400, "VALIDATION_ERROR", field)
    answer = await graphql(
        client, BACKFILL, editor, ws="acme", id=workflow["id"], **{"from": start, "to": end}
    )
    assert answer["data"] is None
    error = answer["errors"][0]["extensions"]
    assert (error["code"], error["details"][0]["field"]) == ("VALIDATION_ERROR", field)
    assert rest.json()["error"]["message"] == answer["errors"][0]["message"]
    listed = await client.get(f"{WS}/workflows/{workflow['id']}/executions", headers=editor)
    assert listed.json()["executions"] == []


async def test_backfill_at_the_end_of_the_years_it_allows(client, tokens):
    """February 29th in UTC+14: the range's last tick is in 9996, and the one after it
    would be in the year 10000."""
    workflow = await create_workflow(
        client,
        tokens.headers(),
        trigger=schedule("0 0 29 2 *", timezone="Pacific/Kiritimati", paused=True),
    )
    response = await client.post(
        f"{WS}/workflows/{workflow['id']}/backfill",
        json={"from": "9990-01-01T00:00:00Z", "to": "9998-12-31T23:59:59.999Z"},
        headers=tokens.headers("editor"),
    )
    assert response.status_code == 202, response.text
    assert (response.json()["ticks"], response.json()["started"]) == (2, 2)


async def test_pause_and_resume_change_the_workflow_so_need_admin(client, tokens):
    workflow = await create_workflow(client, tokens.headers(), trigger=schedule("0 0 * * *"))
    path = f"{WS}/workflows/{workflow['id']}/schedule"
    for suffix in ("pause", "resume"):
        refused = await client.post(f"{path}/{suffix}", headers=tokens.headers("editor"))
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "FORBIDDEN"
    mutation = """mutation($ws: String!, $id: ID!) {
      pauseSchedule(workspaceSlug: $ws, workflowId: $id) { trigger }
    }"""
    answer = await graphql(client, mutation, tokens.headers("editor"), ws="acme", id=workflow["id"])
    assert answer["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    read = await client.get(f"{WS}/workflows/{workflow['id']}", headers=tokens.headers())
    assert read.json()["workflow"]["trigger"]["paused"] is False

    paused = await client.post(f"{path}/pause", headers=tokens.headers("admin"))
    assert paused.status_code == 200
    assert paused.json()["workflow"]["trigger"]["paused"] is True


async def test_next_runs_are_worked_out_only_when_answered(client, tokens, monkeypatch):
    admin = tokens.headers()
    workflow = await create_workflow(client, admin, trigger=schedule("0 0 * * *"))
    await create_workflow(client, admin)
    run = await client.post(
        f"{WS}/workflows/{workflow['id']}/execute", json={"triggerData": {}}, headers=admin
    )
    assert run.status_code == 201, run.text
    execution_id = run.json()["execution"]["id"]
    worked_out: list[str] = []
    real = to_record.next_runs

    def counted(row: Workflow) -> Any:
        worked_out.append(row.id)
        return real(row)

    monkeypatch.setattr(to_record, "next_runs", counted)

    unselected = await graphql(
        client, 'query { workflows(workspaceSlug: "acme") { id name trigger } }', admin
    )
    assert len(unselected["data"]["workflows"]) == 2
    nested = await graphql(
        client,
        'query($id: ID!) { execution(workspaceSlug: "acme", id: $id) { workflow { name } } }',
        admin,
        id=execution_id,
    )
    assert nested["data"]["execution"]["workflow"]["name"]
    assert worked_out == []

    selected = await graphql(
        client, 'query { workflows(workspaceSlug: "acme") { id nextRuns } }', admin
    )
    assert len(worked_out) == 2
    assert [w["nextRuns"] is None for w in selected["data"]["workflows"]].count(True) == 1
    listed = await client.get(f"{WS}/workflows", headers=admin)
    assert [w["nextRuns"] for w in listed.json()["workflows"]] == [
        w["nextRuns"] for w in selected["data"]["workflows"]
    ]
    assert list(listed.json()["workflows"][0])[-1] == "nextRuns"
    assert len(worked_out) == 4
