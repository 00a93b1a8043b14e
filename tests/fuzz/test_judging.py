"""The fuzzers' judges fail what breaks the contract and pass what keeps it."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.fuzz.contract import (
    MAX_REQUEST_DEPTH,
    body_refusal,
    graphql_problem,
    judge,
    literal_depth,
    rest_error_problem,
)
from tests.fuzz.probes import Probe
from tests.fuzz.values import nested_text

pytestmark = pytest.mark.fuzz

WORKFLOWS = "/api/workspaces/{workspace}/workflows"


def error(code: str, **extra: object) -> dict[str, object]:
    return {"error": {"code": code, "message": "why", **extra}}


@pytest.mark.parametrize(
    ("status", "body", "wrong"),
    [
        (400, error("VALIDATION_ERROR"), False),
        (404, error("WORKFLOW_NOT_FOUND", details=[{"field": "id"}]), False),
        (405, error("METHOD_NOT_ALLOWED"), False),
        (400, error("INTERNAL_ERROR"), True),
        (404, error("VALIDATION_ERROR"), True),
        (400, error("VALIDATION_ERROR", details="x"), True),
        (400, error("VALIDATION_ERROR", trace="..."), True),
        (400, {"error": {"code": "VALIDATION_ERROR"}}, True),
        (400, {"detail": "bad"}, True),
        (400, {"error": "VALIDATION_ERROR"}, True),
    ],
)
def test_rest_errors_are_judged_by_the_contract(status: int, body: object, wrong: bool) -> None:
    assert (rest_error_problem(status, body)[1] is not None) is wrong


@pytest.mark.parametrize(
    ("body", "wrong"),
    [
        ({"data": {"me": {"id": "usr_1"}}}, False),
        ({"data": None, "errors": [{"message": "m", "extensions": {"code": "FORBIDDEN"}}]}, False),
        ({"errors": [{"message": "m", "extensions": {"code": "INTERNAL_ERROR"}}]}, True),
        ({"errors": [{"message": "m"}]}, True),
        ({"errors": []}, True),
        (error("VALIDATION_ERROR"), True),
        ([1], True),
    ],
)
def test_graphql_answers_are_judged_by_the_contract(body: object, wrong: bool) -> None:
    assert (graphql_problem(body)[1] is not None) is wrong


@pytest.mark.parametrize(
    ("content", "refused"),
    [
        (None, False),
        (b"  ", False),
        (b'{"name": "x"}', False),
        (b'\xef\xbb\xbf{"name": "x"}', False),
        (nested_text(MAX_REQUEST_DEPTH, "1", "object").encode(), False),
        (json.dumps({"name": "x"}).encode("utf-16"), True),
        (b'{"name": "\xff"}', True),
        (b'{"n": NaN}', True),
        (b'{"n": 1e999}', True),
        (b'{"n": ' + b"9" * 5_000 + b"}", True),
        (b"null", True),
        (b"[]", True),
        (nested_text(MAX_REQUEST_DEPTH + 1, "1", "object").encode(), True),
        (nested_text(100_000, "1", "object").encode(), True),
    ],
)
def test_bodies_a_route_must_refuse(content: bytes | None, refused: bool) -> None:
    assert (body_refusal(content) is not None) is refused


def probe(method: str, template: str, content: bytes | None = None) -> Probe:
    return Probe(method, f"{method} {template}", template, (), (), content)


def answer(status: int, body: bytes, content_type: str = "application/json") -> httpx.Response:
    return httpx.Response(status, headers={"content-type": content_type}, content=body)


@pytest.mark.parametrize(
    ("request_", "response", "wrong"),
    [
        (probe("GET", WORKFLOWS), answer(200, b'{"workflows": []}'), False),
        (probe("GET", WORKFLOWS), answer(500, b'{"error": {}}'), True),
        (probe("GET", WORKFLOWS), answer(502, b""), True),
        (probe("GET", WORKFLOWS), answer(401, b"Unauthorized", "text/plain"), True),
        (probe("HEAD", WORKFLOWS), answer(401, b""), False),
        (probe("GET", WORKFLOWS), answer(307, b""), False),
        (probe("GET", "/graphql"), answer(200, b"<html>", "text/html"), False),
        (probe("POST", "/graphql"), answer(400, b"No GraphQL query", "text/plain"), True),
        (
            probe("POST", "/graphql"),
            answer(400, json.dumps(error("VALIDATION_ERROR")).encode()),
            True,
        ),
        (probe("POST", WORKFLOWS, b"\xff"), answer(201, b'{"workflow": {}}'), True),
        (probe("POST", WORKFLOWS, b'{"name": "x"}'), answer(201, b'{"workflow": {}}'), False),
        (probe("POST", "/graphql", b"[]"), answer(200, b'{"data": {"me": null}}'), True),
        (
            probe("POST", "/graphql", b"[]"),
            answer(200, b'{"errors": [{"message": "m", "extensions": {"code": "UNAUTHORIZED"}}]}'),
            True,
        ),
        (
            probe("POST", "/graphql", b"[]"),
            answer(
                200, b'{"errors": [{"message": "m", "extensions": {"code": "VALIDATION_ERROR"}}]}'
            ),
            False,
        ),
        (probe("DELETE", WORKFLOWS + "/{workflow_id}", b"\xff"), answer(200, b"{}"), False),
        (probe("GET", "/x/stream"), answer(200, b"", "text/event-stream"), False),
        (probe("GET", WORKFLOWS), answer(200, b"", "text/event-stream"), True),
        (
            Probe("HEAD", f"HEAD {WORKFLOWS}", WORKFLOWS, (), (), None, must_succeed=True),
            answer(405, b""),
            True,
        ),
    ],
)
def test_http_answers_are_judged_by_the_contract(
    request_: Probe, response: httpx.Response, wrong: bool
) -> None:
    assert (judge(request_, response, response.content)[1] is not None) is wrong


@pytest.mark.parametrize(
    ("query", "depth"),
    [
        ("{ me { id } }", 0),
        ("mutation { x(input: {a: [[1], [2]]}) { id } }", 2),
        ('mutation { x(input: {a: "[[[["}) { id } }', 0),
        ('mutation { x(input: {a: "\\"[[", b: [1]}) { id } }', 1),
    ],
)
def test_literal_depth_counts_lists_outside_strings(query: str, depth: int) -> None:
    assert literal_depth(query) == depth
