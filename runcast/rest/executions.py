"""REST routes for executions: execute, status, cancel."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from runcast.domain.records import ExecutionState
from runcast.resolvers import executions
from runcast.rest.common import caller_of, json_response, read_json
from runcast.rest.encode import encode


async def execute(request: Request) -> Response:
    caller = await caller_of(request)
    body = await read_json(request, empty={})
    parsed = executions.parse_execute(body, request.headers.get("idempotency-key"))
    started = await executions.execute(
        caller,
        request.path_params["workspace"],
        request.path_params["workflow_id"],
        parsed,
        request.app.state.engine,
    )
    execution = await executions.execution_with_steps(started)
    return json_response({"execution": encode(execution)}, 201)


CANCEL_METHODS = ("POST", "DELETE")


async def status_or_cancel(request: Request) -> Response:
    """GET (and HEAD, which Starlette routes with it) reads the status; POST and DELETE
    cancel."""
    caller = await caller_of(request)
    workspace, execution_id = request.path_params["workspace"], request.path_params["execution_id"]
    if request.method in CANCEL_METHODS:
        result = await executions.cancel_execution(
            caller, workspace, execution_id, request.app.state.engine
        )
        return json_response(encode(result))
    execution = await executions.execution_status(caller, workspace, execution_id)
    return json_response(encode(ExecutionState.of(execution)))


ROUTES = [
    Route(
        "/workspaces/{workspace}/workflows/executions/{execution_id}",
        status_or_cancel,
        methods=["GET", "POST", "DELETE"],
    ),
    Route("/workspaces/{workspace}/workflows/{workflow_id}/execute", execute, methods=["POST"]),
]
