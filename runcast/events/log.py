"""Appending to an execution's event log inside the caller's transaction."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from runcast.models import ExecutionEvent
from runcast.store import statements
from runcast.store.statements import Statement


@dataclass(frozen=True)
class Event:
    """One stored event: its place in the execution's sequence, type and JSON payload."""

    execution_id: str
    seq: int
    type: str
    data: dict[str, Any]

    @functools.cached_property
    def data_json(self) -> str:
        """The payload as JSON text, made once per event object (streams share them)."""
        return json.dumps(self.data)

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


def insert_events(
    dialect: str,
    execution_id: str,
    after_seq: int,
    items: list[tuple[str, dict[str, Any]]],
    now: datetime,
) -> tuple[Statement, list[Event]]:
    """The statement storing `items` as events numbered from `after_seq + 1`, and those
    events; the caller runs it in its transaction."""
    events = [
        Event(execution_id, after_seq + offset, kind, data)
        for offset, (kind, data) in enumerate(items, start=1)
    ]
    records = [
        {
            "execution_id": execution_id,
            "seq": e.seq,
            "type": e.type,
            "payload": e.data,
            "created_at": now,
        }
        for e in events
    ]
    return statements.insert(dialect, ExecutionEvent, records), events


async def read_events(execution_id: str, after_seq: int = 0) -> list[Event]:
    """The stored events of an execution after `after_seq`, in order."""
    rows = (
        await ExecutionEvent.filter(execution_id=execution_id, seq__gt=after_seq)
        .order_by("seq")
        .values_list("seq", "type", "payload")
    )
    return [Event(execution_id, seq, kind, payload) for seq, kind, payload in rows]
