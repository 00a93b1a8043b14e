"""REST route for emitting events: `POST /api/workspaces/:ws/events`."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from runcast.resolvers import events
from runcast.rest.common import caller_of, json_response, read_json


async def emit(request: Request) -> Response:
    """202 `{"executionIds": [...]}`: the executions the event started (for a repeated
    event id, the ones its first emission started)."""
    caller = await caller_of(request)
    body = await read_json(request)
    ids = await events.emit(
        caller, request.path_params["workspace"], body, request.app.state.engine
    )
    return json_response({"executionIds": ids}, 202)


ROUTES = [Route("/workspaces/{workspace}/events", emit, methods=["POST"])]
