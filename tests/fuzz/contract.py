"""What every answer must look like, in the contract's terms (design/API.md "Errors")."""

from __future__ import annotations

import json
import math
from typing import Any

import httpx

from runcast.jsonsafe import ENVELOPE_DEPTH, MAX_DEPTH
from tests.fuzz.probes import Probe

# A request may nest a stored value's limit plus its own envelope.
MAX_REQUEST_DEPTH = MAX_DEPTH + ENVELOPE_DEPTH

# Every error code the contract names, with its HTTP status. NOT_FOUND and METHOD_NOT_ALLOWED
# are the routing answers for a path or method no route serves.
REST_ERROR_STATUS: dict[str, int] = {
    "VALIDATION_ERROR": 400,
    "UNAUTHORIZED": 401,
    "FORBIDDEN": 403,
    "WORKSPACE_NOT_FOUND": 404,
    "WORKFLOW_NOT_FOUND": 404,
    "EXECUTION_NOT_FOUND": 404,
    "NOT_FOUND": 404,
    "METHOD_NOT_ALLOWED": 405,
    "WORKFLOW_INACTIVE": 409,
    "EXECUTION_NOT_RUNNING": 409,
    "IDEMPOTENCY_KEY_REUSED": 409,
    "WORKFLOW_NOT_SCHEDULED": 409,
    "WORKFLOW_INVALID": 422,
    "BACKFILL_TOO_LARGE": 422,
}

# GraphQL's own errors (syntax, validation, coercion) are VALIDATION_ERROR; INTERNAL_ERROR
# never reaches a client. `node`/`nodes` answer an object the caller cannot see as
# null + NOT_FOUND (API.md, GraphQL).
GRAPHQL_ERROR_CODES: frozenset[str] = (frozenset(REST_ERROR_STATUS) - {"METHOD_NOT_ALLOWED"}) | {
    "PERSISTED_QUERY_NOT_FOUND"
}

ERROR_FIELDS = frozenset({"code", "message", "details"})


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def parse_json_body(content: bytes) -> tuple[Any, str | None]:
    """The decoded JSON body, or the reason it is not JSON."""
    try:
        return json.loads(content), None
    except (UnicodeDecodeError, ValueError) as exc:
        return None, f"body is not JSON ({type(exc).__name__})"


def rest_error_problem(status: int, body: Any) -> tuple[str, str | None]:
    """(`code` or a placeholder, why `body` is not the contract's error body or None)."""
    if not isinstance(body, dict) or set(body) != {"error"} or not isinstance(body["error"], dict):
        return "-", 'not {"error": {...}}'
    error = body["error"]
    code = error.get("code")
    if not isinstance(code, str):
        return "-", "error.code is not a string"
    if set(error) - ERROR_FIELDS:
        return code, f"unexpected error fields {sorted(set(error) - ERROR_FIELDS)}"
    if not isinstance(error.get("message"), str) or not error["message"]:
        return code, "error.message is not a non-empty string"
    if "details" in error and not isinstance(error["details"], list):
        return code, "error.details is not a list"
    if code not in REST_ERROR_STATUS:
        return code, "code is not one of the contract's"
    if REST_ERROR_STATUS[code] != status:
        return code, f"code {code} answers HTTP {REST_ERROR_STATUS[code]}, not {status}"
    return code, None


def graphql_problem(body: Any) -> tuple[str, str | None]:
    """(the error codes seen, why `body` is not a GraphQL answer in the contract's terms,
    or None)."""
    if not isinstance(body, dict) or not ({"data", "errors"} & set(body)):
        return "-", "not a GraphQL response object"
    errors = body.get("errors")
    if errors is None:
        return "-", None
    if not isinstance(errors, list) or not errors:
        return "-", "errors is not a non-empty list"
    codes: list[str] = []
    for error in errors:
        if not isinstance(error, dict) or not isinstance(error.get("message"), str):
            return "-", "an error without a message"
        extensions = error.get("extensions")
        code = extensions.get("code") if isinstance(extensions, dict) else None
        if not isinstance(code, str):
            return "-", "an error without extensions.code"
        codes.append(code)
    joined = ",".join(sorted(set(codes)))
    unknown = sorted(set(codes) - GRAPHQL_ERROR_CODES)
    if unknown:
        return joined, f"extensions.code {unknown} is not one of the contract's"
    return joined, None


def _nesting_and_finite(value: Any) -> tuple[int, bool]:
    """How deep `value` nests arrays and objects (a top-level one is 1), and whether every
    number in it is finite; walked without recursion."""
    deepest, finite = 0, True
    pending: list[tuple[Any, int]] = [(value, 0)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict):
            pending.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            pending.extend((child, depth + 1) for child in item)
        else:
            finite = finite and not (isinstance(item, float) and not math.isfinite(item))
            continue
        deepest = max(deepest, depth + 1)
    return deepest, finite


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def body_refusal(content: bytes | None) -> str | None:
    """Why a route that reads a JSON object must refuse `content` (None when it need not):
    not UTF-8 (RFC 8259; a leading BOM may be ignored), not JSON, not an object, nested
    deeper than a request may be, or a number that is not finite."""
    if content is None or not content.strip():
        return None
    try:
        text = content.removeprefix(b"\xef\xbb\xbf").decode("utf-8")
    except UnicodeDecodeError:
        return "not UTF-8"
    try:
        value = json.loads(text, parse_constant=_no_constants)
    except RecursionError:
        return "nested past the parser's limit"
    except ValueError:
        return "not JSON"
    if not isinstance(value, dict):
        return "not a JSON object"
    depth, finite = _nesting_and_finite(value)
    if depth > MAX_REQUEST_DEPTH:
        return f"nested deeper than {MAX_REQUEST_DEPTH}"
    if not finite:
        return "a number out of range"
    return None


GRAPHQL_METHODS = ("GET", "POST")
# The routes that read a JSON object from the body.
BODY_READERS = {
    "POST /api/workspaces/{workspace}/workflows",
    "PATCH /api/workspaces/{workspace}/workflows/{workflow_id}",
    "POST /api/workspaces/{workspace}/workflows/{workflow_id}/execute",
    "POST /api/workspaces/{workspace}/events",
    "POST /graphql",
}


def graphql_refused(content: bytes) -> bool:
    """Whether a 2xx answer is GraphQL's way to refuse a request: errors with
    VALIDATION_ERROR and no data."""
    body, problem = parse_json_body(content)
    if problem is not None or not isinstance(body, dict) or body.get("data") is not None:
        return False
    return "VALIDATION_ERROR" in graphql_problem(body)[0].split(",")


def judge(probe: Probe, response: httpx.Response, content: bytes) -> tuple[str, str | None]:
    """(error codes seen, what is wrong with the answer or None)."""
    status = response.status_code
    kind = media_type(response.headers.get("content-type"))
    template = probe.label.split(" ", 1)[1]
    if status >= 500:
        return "-", f"HTTP {status}"
    if probe.must_succeed and not 200 <= status < 300:
        return "-", "a valid request failed"
    refusal = body_refusal(probe.content) if probe.label in BODY_READERS else None
    if refusal is not None and 200 <= status < 300 and not graphql_refused(content):
        return "-", f"accepted a body that is {refusal}"
    if probe.method == "HEAD" or status in (204, 304) or 300 <= status < 400:
        return "-", None  # no body, or a redirect (a trailing slash)
    if kind == "text/event-stream":
        return "-", None if status == 200 and template.endswith("/stream") else "unexpected stream"
    if template == "/graphql" and probe.method in GRAPHQL_METHODS:
        if kind == "text/html" and probe.method == "GET" and status == 200:
            return "-", None  # GraphiQL, for a client that accepts HTML
        body, problem = parse_json_body(content)
        return ("-", problem) if problem else graphql_problem(body)
    body, problem = parse_json_body(content)
    if problem is not None:
        return "-", problem
    if status >= 400:
        return rest_error_problem(status, body)
    return "-", None


def literal_depth(query: str) -> int:
    """How deep list literals nest in `query`, outside strings."""
    depth = deepest = 0
    in_string = escaped = False
    for char in query:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char == "[":
            depth += 1
            deepest = max(deepest, depth)
        elif char == "]":
            depth -= 1
    return deepest
