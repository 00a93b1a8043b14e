"""Publishing committed events on broadcaster channels.

Channel names are built here from ids the server holds, never from client input:
`execution:<id>` carries an execution's events, `workspace:<id>` its status changes and
`control` carries cancel requests between nodes.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from broadcaster import Broadcast

from runcast.domain.events import Event

logger = logging.getLogger("runcast.events")

CONTROL_CHANNEL = "runcast:control"


def execution_channel(execution_id: str) -> str:
    return f"runcast:execution:{execution_id}"


def workspace_channel(workspace_id: str) -> str:
    return f"runcast:workspace:{workspace_id}"


class EventBus:
    """Publishes after commit. A failed publish is logged, never raised: streams fill
    any gap from the database, so the log stays the source of truth."""

    def __init__(self, broadcast: Broadcast) -> None:
        self.broadcast = broadcast

    async def _publish(self, channel: str, message: dict[str, Any]) -> None:
        try:
            await self.broadcast.publish(channel=channel, message=json.dumps(message))
        except Exception:
            logger.warning(
                "publish on %s failed; readers will fill from the log", channel, exc_info=True
            )

    async def publish_events(self, events: list[Event]) -> None:
        for event in events:
            await self._publish(execution_channel(event.execution_id), event.to_message())

    async def publish_status(self, workspace_id: str, change: dict[str, Any]) -> None:
        await self._publish(workspace_channel(workspace_id), change)

    async def publish_control(self, message: dict[str, Any]) -> None:
        await self._publish(CONTROL_CHANNEL, message)
