"""The workspace feed over SSE: every status change of the workspace's executions, the
changes GraphQL's `workspaceExecutions` subscription sends, for clients without websockets.

`GET /api/workspaces/:ws/stream` (VIEWER; bearer header or `?access_token=`) opens with
`connected` `{"workspaceId", "timestamp"}`, then sends one `status` event per change
`{"executionId", "workflowId", "status", "startedAt", "completedAt", "durationMs",
"isSimulation"}`. Status changes have no log, so events carry no id and a reconnect starts
from the present (after missed messages the feed sends the current state of the
workspace's unfinished and lately finished executions instead).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import aclosing

from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from runcast.domain.clock import iso, utcnow
from runcast.events.hub import Hub
from runcast.events.stream import workspace_changes
from runcast.resolvers import streams
from runcast.resolvers.auth import authenticate, bearer_from_header
from runcast.rest.stream import RETRY_MS


async def workspace_stream(request: Request) -> Response:
    token = bearer_from_header(request.headers.get("authorization"))
    caller = await authenticate(token or request.query_params.get("access_token"))
    workspace_id = await streams.open_workspace_stream(caller, request.path_params["workspace"])
    return EventSourceResponse(
        _events(request.app.state.hub, workspace_id),
        ping=request.app.state.settings.sse_ping_seconds,
        ping_message_factory=lambda: ServerSentEvent(comment="ping"),
    )


async def _events(hub: Hub, workspace_id: str) -> AsyncIterator[ServerSentEvent]:
    connected = {"workspaceId": workspace_id, "timestamp": iso(utcnow())}
    yield ServerSentEvent(json.dumps(connected), event="connected", retry=RETRY_MS)
    async with aclosing(workspace_changes(hub, workspace_id)) as changes:
        async for change in changes:
            yield ServerSentEvent(json.dumps(change), event="status")


ROUTES = [Route("/workspaces/{workspace}/stream", workspace_stream, methods=["GET"])]
