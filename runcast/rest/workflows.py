"""REST routes for workflow definitions."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from runcast.resolvers import workflows
from runcast.rest.common import caller_of, json_response, read_json
from runcast.rest.encode import encode


async def list_or_create(request: Request) -> Response:
    caller = await caller_of(request)
    workspace = request.path_params["workspace"]
    if request.method == "POST":
        body = await read_json(request)
        workflow = await workflows.create_workflow(caller, workspace, body)
        return json_response({"workflow": encode(workflow)}, 201)
    rows = await workflows.list_workflows(caller, workspace)
    return json_response({"workflows": [encode(row) for row in rows]})


async def one(request: Request) -> Response:
    caller = await caller_of(request)
    workspace, workflow_id = request.path_params["workspace"], request.path_params["workflow_id"]
    if request.method == "PATCH":
        body = await read_json(request)
        workflow = await workflows.update_workflow(caller, workspace, workflow_id, body)
    elif request.method == "DELETE":
        workflow = await workflows.delete_workflow(caller, workspace, workflow_id)
    else:
        workflow = await workflows.get_workflow(caller, workspace, workflow_id)
    return json_response({"workflow": encode(workflow)})


ROUTES = [
    Route("/workspaces/{workspace}/workflows", list_or_create, methods=["GET", "POST"]),
    Route(
        "/workspaces/{workspace}/workflows/{workflow_id}", one, methods=["GET", "PATCH", "DELETE"]
    ),
]
