"""Error strategies, timeouts and retries, observed through the API and a real server."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import WS, create_workflow
from tests.receiver import running_receiver

pytestmark = pytest.mark.settings(allow_private_network=True)


def api(url: str, **action: Any) -> dict[str, Any]:
    return {
        "type": "call_api",
        "config": {"url": url, "method": "POST", "body": {"a": 1}},
        **action,
    }


def note(message: str = "done") -> dict[str, Any]:
    return {"type": "send_notification", "config": {"message": message}}


async def run(client, tokens, *actions: dict[str, Any], **fields: Any) -> dict[str, Any]:
    workflow = await create_workflow(client, tokens.headers(), *actions, **fields)
    response = await client.post(
        f"{WS}/workflows/{workflow['id']}/execute",
        json={"wait": True},
        headers=tokens.headers("editor"),
    )
    assert response.status_code == 201, response.text
    return response.json()["execution"]


async def test_stop_fails_the_execution_and_skips_the_rest(client, tokens):
    async with running_receiver() as receiver:
        execution = await run(client, tokens, note(), api(f"{receiver.url}/status/500"), note())
    assert execution["status"] == "FAILED"
    assert execution["errorCode"] == "EXECUTION_FAILED"
    assert execution["error"] == "Action action-2 failed: HTTP 500"
    assert [s["status"] for s in execution["steps"]] == ["success", "failed", "skipped"]
    failed = execution["steps"][1]
    assert failed["error"] == "HTTP 500"
    assert failed["output"]["status"] == 500
    assert failed["output"]["body"] == {"error": "as asked"}
    assert len(receiver.to("/status/500")) == 1


async def test_continue_runs_the_next_step_and_completes(client, tokens):
    async with running_receiver() as receiver:
        execution = await run(
            client, tokens, api(f"{receiver.url}/status/502", onError="continue"), note()
        )
    assert execution["status"] == "COMPLETED"
    assert execution["error"] is None
    assert [s["status"] for s in execution["steps"]] == ["failed", "success"]


async def test_retry_counts_attempts_with_doubling_delays(client, tokens):
    async with running_receiver() as receiver:
        receiver.fail_times["/flaky"] = 2
        execution = await run(client, tokens, api(f"{receiver.url}/flaky", onError="retry"))
    step = execution["steps"][0]
    assert execution["status"] == "COMPLETED"
    assert step["status"] == "success"
    assert step["attempts"] == 3
    assert step["output"]["attempts"] == 3
    assert step["output"]["attemptErrors"] == ["HTTP 503", "HTTP 503"]
    times = [r.at for r in receiver.to("/flaky")]
    # RUNCAST_RETRY_BASE_MS is 20 in tests: delays of 20 ms, then 40 ms.
    assert times[1] - times[0] >= 0.02
    assert times[2] - times[1] >= 0.04


async def test_retry_exhausted_fails_after_four_attempts(client, tokens):
    async with running_receiver() as receiver:
        execution = await run(
            client, tokens, api(f"{receiver.url}/status/503", onError="retry"), note()
        )
    assert execution["status"] == "FAILED"
    step = execution["steps"][0]
    assert step["attempts"] == 4
    assert step["output"]["attemptErrors"] == ["HTTP 503"] * 4
    assert execution["steps"][1]["status"] == "skipped"
    assert len(receiver.to("/status/503")) == 4


@pytest.mark.parametrize("code", [400, 404, 422])
async def test_retry_does_not_repeat_client_errors(client, tokens, code):
    async with running_receiver() as receiver:
        execution = await run(client, tokens, api(f"{receiver.url}/status/{code}", onError="retry"))
    assert execution["steps"][0]["attempts"] == 1
    assert len(receiver.to(f"/status/{code}")) == 1


@pytest.mark.parametrize("code", [408, 429])
async def test_retry_repeats_timeouts_and_throttling(client, tokens, code):
    async with running_receiver() as receiver:
        execution = await run(client, tokens, api(f"{receiver.url}/status/{code}", onError="retry"))
    assert execution["steps"][0]["attempts"] == 4


async def test_retry_after_is_honoured(client, tokens):
    async with running_receiver() as receiver:
        execution = await run(client, tokens, api(f"{receiver.url}/retry-after", onError="retry"))
    assert execution["steps"][0]["attempts"] == 2
    first, second = receiver.to("/retry-after")
    assert second.at - first.at >= 0.95


async def test_action_timeout_fails_the_attempt(client, tokens):
    async with running_receiver() as receiver:
        execution = await run(client, tokens, api(f"{receiver.url}/hang", timeout=200), note())
    assert execution["status"] == "FAILED"
    assert execution["steps"][0]["error"] == "timeout"
    assert execution["steps"][0]["durationMs"] < 2000
    assert execution["error"] == "Action action-1 failed: timeout"


async def test_wait_is_bounded_only_by_an_explicit_timeout(client, tokens):
    execution = await run(
        client, tokens, {"type": "wait", "config": {"durationMs": 5000}, "timeout": 100}
    )
    assert execution["status"] == "FAILED"
    assert execution["steps"][0]["error"] == "timeout"


async def test_workflow_timeout_interrupts_the_step_in_flight(client, tokens):
    execution = await run(
        client,
        tokens,
        note(),
        {"type": "wait", "config": {"durationMs": 10_000}},
        note(),
        timeoutMs=300,
    )
    assert execution["status"] == "FAILED"
    assert execution["error"] == "timeout"
    assert execution["errorCode"] == "EXECUTION_FAILED"
    assert [s["status"] for s in execution["steps"]] == ["success", "failed", "skipped"]
    assert execution["steps"][1]["error"] == "timeout"
    assert [s["attempts"] for s in execution["steps"]] == [1, 1, 0]
    assert 300 <= execution["durationMs"] < 3000


OPERATOR_CASES = [
    ("equals", "pro", "pro", "free"),
    ("not_equals", "pro", "free", "pro"),
    ("greater_than", 10, 11, 10),
    ("less_than", 10, 9, 10),
    ("contains", "vip", "super-vip", "regular"),
    ("not_contains", "vip", "regular", "super-vip"),
    ("exists", None, "anything", None),
    ("not_exists", None, None, "anything"),
]


@pytest.mark.parametrize(
    ("operator", "value", "true_input", "false_input"),
    OPERATOR_CASES,
    ids=[c[0] for c in OPERATOR_CASES],
)
async def test_each_operator_true_and_false(
    client, tokens, operator, value, true_input, false_input
):
    config: dict[str, Any] = {"field": "trigger.field", "operator": operator}
    if value is not None:
        config["value"] = value
    workflow = await create_workflow(
        client, tokens.headers(), {"type": "condition", "config": config}, note()
    )
    for given, expected in ((true_input, True), (false_input, False)):
        trigger = {} if given is None else {"field": given}
        response = await client.post(
            f"{WS}/workflows/{workflow['id']}/execute",
            json={"wait": True, "triggerData": trigger},
            headers=tokens.headers("editor"),
        )
        execution = response.json()["execution"]
        assert execution["status"] == "COMPLETED"
        assert execution["steps"][0]["output"]["result"] is expected
        assert execution["steps"][1]["status"] == ("success" if expected else "skipped")


async def stubborn(action: dict[str, Any], context: Any) -> Any:
    """A handler that swallows cancellation (twice), so only the reaper can end its run."""
    import asyncio

    for _ in range(3):
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            continue
    return {"success": True}


@pytest.mark.settings(heartbeat_seconds=0.2)
async def test_reaper_ends_a_run_that_ignores_its_timeout(client, tokens, monkeypatch):
    import runcast
    from runcast.engine import scheduler
    from runcast.engine.actions.registry import unregister_action_handler

    monkeypatch.setattr(scheduler, "REAP_GRACE", scheduler.timedelta(milliseconds=200))
    runcast.register_action_handler("stubborn", stubborn)
    try:
        execution = await run(
            client, tokens, {"type": "stubborn", "config": {}}, note(), timeoutMs=300
        )
    finally:
        unregister_action_handler("stubborn")
    assert execution["status"] == "FAILED"
    assert execution["error"] == "timeout"
    assert [s["status"] for s in execution["steps"]] == ["failed", "skipped"]
    assert [s["attempts"] for s in execution["steps"]] == [1, 0]
