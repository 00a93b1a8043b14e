"""One workflow's statistics read every way the APIs offer them — GraphQL's batched
`Workflow.statistics`, the GraphQL listing filtered to the workflow, the workflow's own
`executions` connection and REST's listing — are the same numbers, on data chosen so that
any other percentile rank or rounding would show."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tests.api.test_history import BASE, Seeded, expected_statistics, seed
from tests.helpers import WS, as_graphql, create_workflow, graphql

FIGURES = """total byStatus { pending running completed failed cancelled }
  successRate averageDurationMs p50DurationMs p95DurationMs"""

BATCHED = f"""
query {{ workspace(slug: "acme") {{ workflows {{ id statistics {{ {FIGURES} }} }} }} }}
"""

LISTED = f"""
query($id: ID!) {{
  executions(workspaceSlug: "acme", filter: {{workflowId: $id}}, first: 1) {{
    statistics {{ {FIGURES} }}
  }}
  node(id: $id) {{ ... on Workflow {{ executions(first: 1) {{ statistics {{ {FIGURES} }} }} }} }}
}}
"""


def rows_of(workflow_id: str, statuses: list[str], durations: list[int]) -> list[Seeded]:
    """Executions in these statuses; the finished ones take the durations in turn (those
    beyond the durations have none), a second apart."""
    rows, timed = [], iter(durations)
    for i, status in enumerate(statuses):
        duration = next(timed, None) if status in ("COMPLETED", "FAILED", "CANCELLED") else None
        started = BASE + timedelta(seconds=i)
        rows.append(
            Seeded(f"exec_{workflow_id[-6:]}_{i:03d}", workflow_id, status, started, duration, ())
        )
    return rows


def odd(workflow_id: str) -> list[Seeded]:
    """32 executions, 5 completed (15.625 % → 15.63, where rounding half to even gives
    15.62); 27 timed with ties, the 50th percentile's rank (14) the first of a run of
    equal values and the 95th's (26) the first of the largest."""
    durations = [7] * 4 + [50] * 6 + [100] * 3 + [120] * 5 + [200] * 4 + [300] * 3 + [1000] * 2
    durations = durations[::-1]  # stored out of order
    statuses = ["COMPLETED"] * 5 + ["FAILED"] * 22 + ["CANCELLED"] * 2 + ["PENDING"] * 2
    return rows_of(workflow_id, [*statuses, "RUNNING"], durations)


def even(workflow_id: str) -> list[Seeded]:
    """32 executions, 7 completed (21.875 % → 21.88); 22 timed, half 10 ms and half 11 ms:
    the average 10.5 rounds half up to 11, the 50th percentile (rank 11) is 10."""
    durations = [11, 10] * 11
    statuses = ["COMPLETED"] * 7 + ["FAILED"] * 20 + ["CANCELLED"] * 3 + ["RUNNING"] * 2
    return rows_of(workflow_id, statuses, durations)


async def test_every_way_of_reading_a_workflows_statistics_agrees(client, tokens):
    made = {
        name: await create_workflow(client, tokens.headers(), name=name)
        for name in ("Odd", "Even", "Idle")
    }
    rows = {
        "Odd": odd(made["Odd"]["id"]),
        "Even": even(made["Even"]["id"]),
        "Idle": [],
    }
    await seed(made["Odd"]["workspaceId"], [*rows["Odd"], *rows["Even"]])
    expected = {name: expected_statistics(found) for name, found in rows.items()}
    assert expected["Odd"]["successRate"] == 15.63
    assert (expected["Odd"]["p50DurationMs"], expected["Odd"]["p95DurationMs"]) == (120, 1000)
    assert expected["Even"]["averageDurationMs"] == 11
    assert (expected["Even"]["successRate"], expected["Even"]["p50DurationMs"]) == (21.88, 10)

    viewer = tokens.headers("viewer")
    batched = await graphql(client, BATCHED, viewer)
    assert "errors" not in batched, batched["errors"]
    by_id = {w["id"]: w["statistics"] for w in batched["data"]["workspace"]["workflows"]}
    for name, workflow in made.items():
        rest = await client.get(f"{WS}/workflows/{workflow['id']}/executions", headers=viewer)
        assert rest.status_code == 200, rest.text
        listed = await graphql(client, LISTED, viewer, id=workflow["id"])
        assert "errors" not in listed, listed["errors"]
        readings: dict[str, Any] = {
            "REST listing": as_graphql(rest.json()["statistics"]),
            "Workflow.statistics": by_id[workflow["id"]],
            "executions(filter)": listed["data"]["executions"]["statistics"],
            "Workflow.executions": listed["data"]["node"]["executions"]["statistics"],
        }
        assert readings == dict.fromkeys(readings, as_graphql(expected[name])), name
