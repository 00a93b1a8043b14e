"""Hypothesis over every HTTP route the app serves: no 5xx, every error in the contract's
shape, and the server healthy after."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from hypothesis import example, given
from starlette.applications import Starlette

from tests.fuzz.budget import READ_TIMEOUT_S, examples, fuzz_settings
from tests.fuzz.contract import judge, media_type
from tests.fuzz.findings import Answer, Findings, Recorder, compact, server_errors
from tests.fuzz.probes import Probe, RouteSpec, http_routes, probes, valid_probes
from tests.fuzz.world import World, health_problem

pytestmark = pytest.mark.fuzz


def send(client: httpx.Client, probe: Probe) -> tuple[httpx.Response, bytes]:
    """Send `probe`; an event stream is read no further than its headers."""
    with client.stream(
        probe.method, probe.url, headers=list(probe.headers), content=probe.content
    ) as response:
        if media_type(response.headers.get("content-type")) == "text/event-stream":
            return response, b""
        return response, response.read()


def check_probe(probe: Probe, client: httpx.Client, world: World, recorder: Recorder) -> None:
    recorder.before_request()
    request = compact(probe.describe(world))
    try:
        response, content = send(client, probe)
    except httpx.HTTPError as exc:
        request = f"{request} (sent right after: {recorder.previous_request})"
        recorder.answered(Answer(probe.label, request, None, str(exc), problem=type(exc).__name__))
        return
    codes, problem = judge(probe, response, content)
    observed = f"HTTP {response.status_code} {compact(content.decode('utf-8', 'replace'))}"
    succeeded = 200 <= response.status_code < 300
    recorder.answered(
        Answer(probe.label, request, response.status_code, observed, codes, problem, succeeded)
    )


def fuzz_routes(
    base_url: str,
    world: World,
    routes: list[RouteSpec],
    count: int,
    loop: asyncio.AbstractEventLoop,
) -> Findings:
    """`count` generated requests after one valid request per route, in a worker thread
    while the server runs in `loop`."""
    findings = Findings()
    with (
        server_errors() as logged,
        httpx.Client(base_url=base_url, timeout=READ_TIMEOUT_S) as client,
    ):
        recorder = Recorder(findings, logged, loop)

        @fuzz_settings(count)
        @given(probe=probes(world, routes))
        def run(probe: Probe) -> None:
            check_probe(probe, client, world, recorder)

        for valid in reversed(valid_probes(world, routes)):
            run = example(probe=valid)(run)
        run()
        recorder.finish()
    return findings


async def test_every_route_answers_within_the_contract(
    app: Starlette, live: str, world: World, backend: str
) -> None:
    routes = http_routes(app)
    count, loop = examples("rest", backend), asyncio.get_running_loop()
    findings = await asyncio.to_thread(fuzz_routes, live, world, routes, count, loop)
    unhealthy = await health_problem(live, world)
    assert not findings, findings.report() + f"\nafterwards: {unhealthy or 'healthy'}"
    assert unhealthy is None, unhealthy
    labels = {f"{method} {route.template}" for route in routes for method in route.methods}
    never = sorted(labels - findings.succeeded)
    assert not never, f"never answered 2xx, so the fuzzing did not reach them: {never}"
