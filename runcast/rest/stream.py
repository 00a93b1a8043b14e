"""The SSE route: an execution's events as Server-Sent Events, resumable by Last-Event-ID."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import aclosing

from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from runcast.events.hub import Hub
from runcast.events.stream import execution_events
from runcast.resolvers import streams
from runcast.resolvers.auth import authenticate, bearer_from_header

RETRY_MS = 3000


async def stream(request: Request) -> Response:
    """`connected`, then every event after Last-Event-ID; 204 when nothing is left."""
    token = bearer_from_header(request.headers.get("authorization"))
    caller = await authenticate(token or request.query_params.get("access_token"))
    last_event_id = request.headers.get("last-event-id")
    if last_event_id is None:
        last_event_id = request.query_params.get("lastEventId")
    start = await streams.open_execution_stream(
        caller,
        request.path_params["workspace"],
        request.path_params["execution_id"],
        streams.parse_event_id(last_event_id),
    )
    if start.nothing_left:
        return Response(status_code=204)
    return EventSourceResponse(
        _events(request.app.state.hub, start),
        ping=request.app.state.settings.sse_ping_seconds,
        ping_message_factory=lambda: ServerSentEvent(comment="ping"),
    )


async def _events(hub: Hub, start: streams.StreamStart) -> AsyncIterator[ServerSentEvent]:
    connected = streams.connected_event(start.execution_id)
    yield ServerSentEvent(json.dumps(connected), event="connected", retry=RETRY_MS)
    async with aclosing(execution_events(hub, start.execution_id, start.after)) as events:
        async for event in events:
            yield ServerSentEvent(event.data_json, event=event.type, id=str(event.seq))


ROUTES = [
    Route(
        "/workspaces/{workspace}/workflows/executions/{execution_id}/stream",
        stream,
        methods=["GET"],
    ),
]
