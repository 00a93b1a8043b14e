"""The domain's words are the wire's: enum values, final sets, the clock's format."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

from runcast.domain.clock import iso
from runcast.domain.enums import (
    ACTIVE_EXECUTION_STATUSES,
    FINAL_EXECUTION_STATUSES,
    FINAL_STEP_STATUSES,
    ExecutionStatus,
    OnError,
    Role,
    StepStatus,
    TriggerType,
    WorkflowStatus,
)


def test_values_are_the_strings_stored_and_sent():
    assert list(ExecutionStatus) == ["PENDING", "RUNNING", "COMPLETED", "FAILED", "CANCELLED"]
    assert list(StepStatus) == ["pending", "running", "success", "failed", "skipped", "cancelled"]
    assert list(OnError) == ["stop", "continue", "retry"]
    assert list(WorkflowStatus) == ["ACTIVE", "INACTIVE"]
    assert TriggerType.MANUAL == "manual"
    assert list(Role) == ["VIEWER", "EDITOR", "ADMIN", "OWNER"]
    assert [role.rank for role in Role] == [1, 2, 3, 4]


def test_members_serialise_and_look_up_as_plain_strings():
    assert json.dumps({StepStatus.SUCCESS: ExecutionStatus.FAILED}) == '{"success": "FAILED"}'
    assert f"{ExecutionStatus.CANCELLED}" == "CANCELLED"
    assert {"success": 1}[StepStatus.SUCCESS] == 1
    assert "skipped" in FINAL_STEP_STATUSES


def test_every_status_is_either_active_or_final():
    assert ACTIVE_EXECUTION_STATUSES | FINAL_EXECUTION_STATUSES == set(ExecutionStatus)
    assert not ACTIVE_EXECUTION_STATUSES & FINAL_EXECUTION_STATUSES
    assert FINAL_STEP_STATUSES == set(StepStatus) - {StepStatus.PENDING, StepStatus.RUNNING}


def test_iso_is_utc_with_milliseconds_and_z():
    moment = datetime(2024, 12, 5, 11, 0, 0, 123456, tzinfo=timezone(timedelta(hours=1)))
    assert iso(moment) == "2024-12-05T10:00:00.123Z"
    assert iso(datetime(2024, 1, 1, tzinfo=UTC)) == "2024-01-01T00:00:00.000Z"
    assert iso(None) is None
