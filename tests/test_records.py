"""REST's encoder: domain records to the camelCase JSON the contract shows."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from types import MappingProxyType

from runcast.domain.enums import ExecutionStatus, OnError, StepStatus
from runcast.domain.records import Action, ExecutionPage, Pagination, Statistics, Step
from runcast.rest.encode import encode


def test_records_become_camel_case_objects_in_field_order():
    moment = datetime(2024, 12, 5, 11, 0, 0, 123456, tzinfo=timezone(timedelta(hours=1)))
    step = Step(
        action_id="a",
        action_type="wait",
        status=StepStatus.SUCCESS,
        output={"snake_key": [1, {"x_y": None}]},
        duration_ms=5,
        error=None,
        started_at=moment,
        completed_at=None,
        attempts=1,
    )
    assert json.dumps(encode(step)) == json.dumps(
        {
            "actionId": "a",
            "actionType": "wait",
            "status": "success",
            "output": {"snake_key": [1, {"x_y": None}]},
            "durationMs": 5,
            "error": None,
            "startedAt": "2024-12-05T10:00:00.123Z",
            "completedAt": None,
            "attempts": 1,
        }
    )


def test_omittable_fields_are_left_out_only_when_none():
    bare = Action(id="a", type="wait", config={}, on_error=OnError.RETRY)
    assert encode(bare) == {"id": "a", "type": "wait", "config": {}, "onError": "retry"}
    named = Action(id="a", type="wait", config={}, on_error=OnError.STOP, name="n", timeout=0)
    assert encode(named)["name"] == "n"
    assert encode(named)["timeout"] == 0


def test_statistics_count_statuses_by_their_values():
    statistics = Statistics(
        total=3,
        by_status=MappingProxyType({ExecutionStatus.COMPLETED: 2, ExecutionStatus.FAILED: 1}),
        success_rate=66.67,
        average_duration_ms=None,
        p50_duration_ms=None,
        p95_duration_ms=None,
    )
    page = ExecutionPage((), Pagination(3, 0, 20, False), statistics)
    assert encode(page)["executions"] == []
    assert encode(page)["pagination"] == {
        "total": 3,
        "offset": 0,
        "limit": 20,
        "hasMore": False,
        "nextCursor": None,
    }
    assert json.dumps(encode(page)["statistics"]) == json.dumps(
        {
            "total": 3,
            "byStatus": {"COMPLETED": 2, "FAILED": 1},
            "successRate": 66.67,
            "averageDurationMs": None,
            "p50DurationMs": None,
            "p95DurationMs": None,
        }
    )
    assert "statistics" not in encode(ExecutionPage((), Pagination(0, 0, 20, False)))
    assert statistics.count(ExecutionStatus.PENDING) == 0
