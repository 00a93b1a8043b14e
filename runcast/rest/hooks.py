"""REST routes for webhooks: deliveries (no bearer token) and hook rotation."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from runcast.resolvers import webhooks
from runcast.rest.common import caller_of, json_response
from runcast.rest.encode import encode


async def deliver(request: Request) -> Response:
    """`POST /hooks/<hook id>`: 202 `{"executionId"}` (async), or 200 with the finished
    execution and its `result` (sync)."""
    delivery = webhooks.Delivery(
        hook_id=request.path_params["hook_id"],
        body=await request.body(),
        query=dict(request.query_params),
        headers=request.headers.items(),
        idempotency_key=request.headers.get("idempotency-key"),
    )
    delivered = await webhooks.deliver(delivery, request.app.state.engine)
    execution_id = delivered.execution.id
    if not delivered.sync:
        return json_response({"executionId": execution_id}, 202)
    return json_response(
        {
            "executionId": execution_id,
            "execution": encode(delivered.finished),
            "result": delivered.result,
        }
    )


async def rotate(request: Request) -> Response:
    """`POST …/workflows/:id/webhook/rotate` (ADMIN): a new hook URL, the old one 404."""
    caller = await caller_of(request)
    workflow = await webhooks.rotate(
        caller, request.path_params["workspace"], request.path_params["workflow_id"]
    )
    return json_response({"workflow": encode(workflow)})


HOOK_ROUTES = [Route("/hooks/{hook_id}", deliver, methods=["POST"])]
"""Mounted at the server's root: a hook URL is `/hooks/<hook id>`."""

ROUTES = [
    Route(
        "/workspaces/{workspace}/workflows/{workflow_id}/webhook/rotate", rotate, methods=["POST"]
    )
]
