"""REST routes for execution history: the listing with statistics, and step-by-step history."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from runcast.domain.records import Execution
from runcast.resolvers import history
from runcast.rest.common import caller_of, json_response
from runcast.rest.encode import encode


def _trigger_data(request: Request) -> list[tuple[str, object]]:
    """The `triggerData.<path>=value` parameters (repeatable), as (path, value) pairs; a bare
    `triggerData` names no path."""
    prefix = f"{history.TRIGGER_DATA}."
    pairs: list[tuple[str, object]] = []
    for key, value in request.query_params.multi_items():
        if key.startswith(prefix):
            pairs.append((key[len(prefix) :], history.query_value(value)))
        elif key == history.TRIGGER_DATA:
            pairs.append(("", value))
    return pairs


def query_of(request: Request) -> history.HistoryQuery:
    """Parse the filters (`status` and `triggerType` repeatable or comma-separated, `from`,
    `to`, `triggeredBy`, `search`, `triggerData.<path>` repeatable) and the page (`offset`
    or `cursor`, and `limit`)."""
    params = request.query_params
    filters = history.parse_filters(
        status=params.getlist("status"),
        from_=params.get("from"),
        to=params.get("to"),
        trigger_type=params.getlist("triggerType"),
        triggered_by=params.get("triggeredBy"),
        search=params.get("search"),
        trigger_data=_trigger_data(request),
    )
    return history.parse_query(
        filters,
        offset=params.get("offset"),
        limit=params.get("limit"),
        cursor=params.get("cursor"),
    )


async def list_executions(request: Request) -> Response:
    """One workflow's executions, or with no workflow in the path the whole workspace's."""
    caller = await caller_of(request)
    result = await history.list_executions(
        caller,
        request.path_params["workspace"],
        request.path_params.get("workflow_id"),
        query_of(request),
    )
    return json_response(encode(result))


async def execution_history(request: Request) -> Response:
    caller = await caller_of(request)
    execution_id = request.query_params.get("executionId", "").strip() or None
    result = await history.execution_history(
        caller,
        request.path_params["workspace"],
        request.path_params["workflow_id"],
        query_of(request),
        execution_id,
    )
    if isinstance(result, Execution):
        return json_response({"execution": encode(result)})
    return json_response(encode(result))


ROUTES = [
    Route("/workspaces/{workspace}/executions", list_executions, methods=["GET"]),
    Route(
        "/workspaces/{workspace}/workflows/{workflow_id}/executions",
        list_executions,
        methods=["GET"],
    ),
    Route(
        "/workspaces/{workspace}/workflows/{workflow_id}/history",
        execution_history,
        methods=["GET"],
    ),
]
