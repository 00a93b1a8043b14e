"""REST routes for schedules: pause, resume, backfill (see docs/triggers.md)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from runcast.resolvers import schedules
from runcast.rest.common import caller_of, json_response, read_json
from runcast.rest.encode import encode


async def pause(request: Request) -> Response:
    return await _set_paused(request, True)


async def resume(request: Request) -> Response:
    return await _set_paused(request, False)


async def _set_paused(request: Request, paused: bool) -> Response:
    caller = await caller_of(request)
    workflow = await schedules.set_paused(
        caller, request.path_params["workspace"], request.path_params["workflow_id"], paused
    )
    return json_response({"workflow": encode(workflow)})


async def backfill(request: Request) -> Response:
    """202 `{"ticks", "started", "executionIds"}`: one execution per tick of the range."""
    caller = await caller_of(request)
    start, end = schedules.parse_range(await read_json(request, empty={}))
    result = await schedules.backfill(
        caller,
        request.path_params["workspace"],
        request.path_params["workflow_id"],
        start,
        end,
        request.app.state.engine,
    )
    return json_response(encode(result), 202)


_WORKFLOW = "/workspaces/{workspace}/workflows/{workflow_id}"

ROUTES = [
    Route(f"{_WORKFLOW}/schedule/pause", pause, methods=["POST"]),
    Route(f"{_WORKFLOW}/schedule/resume", resume, methods=["POST"]),
    Route(f"{_WORKFLOW}/backfill", backfill, methods=["POST"]),
]
