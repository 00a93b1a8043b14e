"""Appending to an execution's event log inside the caller's transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from runcast.db import db_value, placeholders
from runcast.models import ExecutionEvent


@dataclass(frozen=True)
class Event:
    """One stored event: its place in the execution's sequence, type and JSON payload."""

    execution_id: str
    seq: int
    type: str
    data: dict[str, Any]

    def to_message(self) -> dict[str, Any]:
        return {
            "executionId": self.execution_id,
            "seq": self.seq,
            "type": self.type,
            "data": self.data,
        }

    @classmethod
    def from_message(cls, message: dict[str, Any]) -> Event:
        return cls(message["executionId"], int(message["seq"]), message["type"], message["data"])


async def append_events(
    connection: BaseDBAsyncClient,
    execution_id: str,
    after_seq: int,
    items: list[tuple[str, dict[str, Any]]],
    now: datetime,
) -> list[Event]:
    """Store `items` as events numbered from `after_seq + 1`; the caller commits."""
    events = [
        Event(execution_id, after_seq + offset, kind, data)
        for offset, (kind, data) in enumerate(items, start=1)
    ]
    marks = ", ".join(placeholders(connection, 5))
    sql = (
        f"INSERT INTO {ExecutionEvent._meta.db_table} "
        f"(execution_id, seq, type, payload, created_at) VALUES ({marks})"
    )
    created = db_value(ExecutionEvent, "created_at", now)
    await connection.execute_many(
        sql,
        [
            [e.execution_id, e.seq, e.type, db_value(ExecutionEvent, "payload", e.data), created]
            for e in events
        ],
    )
    return events


async def read_events(execution_id: str, after_seq: int = 0) -> list[Event]:
    """The stored events of an execution after `after_seq`, in order."""
    rows = (
        await ExecutionEvent.filter(execution_id=execution_id, seq__gt=after_seq)
        .order_by("seq")
        .values_list("seq", "type", "payload")
    )
    return [Event(execution_id, seq, kind, payload) for seq, kind, payload in rows]
