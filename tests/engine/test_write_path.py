"""The execution path's writes: grouped transactions stay apart, side effects are stored
once, and an execution run straight from its request is guarded by its lease."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import pytest
from tortoise.exceptions import IntegrityError
from tortoise.expressions import F
from tortoise.transactions import in_transaction

import runcast
from runcast.bootstrap import create_token
from runcast.domain.callers import Caller
from runcast.domain.clock import utcnow
from runcast.engine.actions.base import ActionContext, ActionResult, StoredRow, StoringResult
from runcast.engine.actions.registry import unregister_action_handler
from runcast.models import (
    Execution,
    ExecutionEvent,
    Membership,
    Notification,
    Role,
    StepRun,
    Task,
    Workflow,
    Workspace,
)
from runcast.resolvers.executions import ExecuteRequest, new_execution
from runcast.store import claims, statements
from runcast.store.claims import claim_runnable
from tests.helpers import WS, create_workflow, notify


def _notification(workspace_id: str, notification_id: str) -> dict[str, object]:
    return {
        "id": notification_id,
        "workspace_id": workspace_id,
        "execution_id": None,
        "message": f"message {notification_id}",
        "recipient": None,
        "created_at": utcnow(),
    }


async def test_transactions_run_together_succeed_or_fail_on_their_own(app, tokens):
    workspace = await Workspace.get(slug="acme")
    dialect = statements.dialect()
    await statements.run(
        [statements.insert(dialect, Notification, [_notification(workspace.id, "ntf_taken")])]
    )

    def insert(notification_id: str) -> statements.Statement:
        return statements.insert(
            dialect, Notification, [_notification(workspace.id, notification_id)]
        )

    guard_fails = statements.update(
        dialect, Notification, {"message": "changed"}, {"id": "ntf_missing"}, expect=1
    )
    results = await asyncio.gather(
        statements.run([insert("ntf_a")]),
        statements.run([insert("ntf_b"), guard_fails]),
        statements.run([insert("ntf_c"), insert("ntf_taken")]),
        statements.run([insert("ntf_d")]),
        return_exceptions=True,
    )
    assert results[0] is True
    assert results[1] is False
    assert isinstance(results[2], IntegrityError)
    assert results[3] is True
    stored = await Notification.all().order_by("id").values_list("id", "message")
    assert stored == [
        ("ntf_a", "message ntf_a"),
        ("ntf_d", "message ntf_d"),
        ("ntf_taken", "message ntf_taken"),
    ]


async def test_an_insert_that_skips_existing_keeps_the_first_record(app, tokens):
    workspace = await Workspace.get(slug="acme")
    first = _notification(workspace.id, "ntf_once")
    for record in (first, {**first, "message": "second"}):
        insert = statements.insert(statements.dialect(), Notification, [record], True)
        assert await statements.run([insert])
    assert await Notification.filter(id="ntf_once").values_list("message", flat=True) == [
        "message ntf_once"
    ]


@pytest.mark.settings(poll_seconds=3600)
async def test_an_execution_leased_to_its_node_is_claimed_only_after_the_lease_expires(
    app, client, tokens, monkeypatch
):
    workflow = await create_workflow(client, tokens.headers(), notify())
    async with _submitted_held(app, monkeypatch, workflow["id"]) as execution_id:
        stored = await Execution.get(id=execution_id)
        leased = (stored.status, stored.lease_owner, stored.fencing_token)
        assert leased == ("RUNNING", "node_test", 1)
        first = await StepRun.filter(execution_id=execution_id).order_by("position").first()
        assert first is not None and (first.status, first.attempts) == ("running", 1)

        assert await claim_runnable("node_other", 10, utcnow(), timedelta(seconds=30)) == []
        await Execution.filter(id=stored.id).update(
            lease_expires_at=utcnow() - timedelta(seconds=1)
        )
        claimed = await claim_runnable("node_other", 10, utcnow(), timedelta(seconds=30))
        assert claimed == [(stored.id, 2)]


@pytest.mark.settings(poll_seconds=3600)
async def test_a_cancel_before_the_first_step_runs_wins_over_the_run(
    app, client, tokens, monkeypatch
):
    workflow = await create_workflow(client, tokens.headers(), notify(), notify("Second"))
    engine = app.state.engine
    async with _submitted_held(app, monkeypatch, workflow["id"]) as execution_id:
        stored = await Execution.get(id=execution_id)
        assert (stored.status, stored.lease_owner) == ("RUNNING", "node_test")
        response = await client.delete(
            f"{WS}/workflows/executions/{execution_id}", headers=tokens.headers("editor")
        )
        assert response.status_code == 200, response.text
        assert response.json()["execution"]["status"] == "CANCELLED"

    for _ in range(200):
        if not engine.running_count:
            break
        await asyncio.sleep(0.01)
    assert engine.running_count == 0
    stored = await Execution.get(id=execution_id)
    assert stored.status == "CANCELLED"
    step_statuses = await StepRun.filter(execution_id=execution_id).values_list("status", flat=True)
    assert step_statuses == ["skipped", "skipped"]
    assert await Notification.filter(execution_id=execution_id).count() == 0
    kinds = (
        await ExecutionEvent.filter(execution_id=execution_id)
        .order_by("seq")
        .values_list("type", flat=True)
    )
    assert kinds == ["step", "progress", "step", "progress", "complete"]


@contextlib.asynccontextmanager
async def _submitted_held(app, monkeypatch, workflow_id: str) -> AsyncIterator[str]:
    """Submit an execution as a request does, and hold its run between storing it and
    running its first step (its first announcement on the bus, RUNNING, waits) until the
    block ends; yields the execution's id."""
    engine = app.state.engine
    announce = engine.bus.publish_status
    announced, release = asyncio.Event(), asyncio.Event()

    async def held(workspace_id: str, change: dict[str, Any]) -> None:
        if change["status"] == "RUNNING":
            announced.set()
            await release.wait()
        await announce(workspace_id, change)

    monkeypatch.setattr(engine.bus, "publish_status", held)
    workflow = await Workflow.get(id=workflow_id)
    request = ExecuteRequest({}, {}, dry_run=False, wait=False, idempotency_key=None)
    execution, steps = new_execution(workflow, Caller("user_test", "tester"), request)
    submitted = asyncio.create_task(engine.submit(execution, steps))
    async with asyncio.timeout(5):
        await announced.wait()
    try:
        yield execution.id
    finally:
        release.set()
        await submitted


async def test_inside_a_transaction_statements_join_it(app, tokens):
    workspace = await Workspace.get(slug="acme")
    dialect = statements.dialect()

    class Abort(Exception):
        pass

    with pytest.raises(Abort):
        async with in_transaction():
            insert = statements.insert(dialect, Notification, [_notification(workspace.id, "n1")])
            assert await statements.run([insert])
            rows = await statements.fetch("SELECT id FROM notification WHERE id = ?", ["n1"])
            assert rows == [{"id": "n1"}]
            raise Abort
    assert await Notification.filter(id="n1").count() == 0


async def test_tokens_are_made_while_executions_commit_their_steps(app, client, tokens):
    """Two connections write SQLite's file (the store's and the ORM's): making a token must
    wait for the step commits, never fail because they wrote in between."""
    workflow = await create_workflow(client, tokens.headers(), notify(), notify("Again"))

    async def execute() -> str:
        response = await client.post(
            f"{WS}/workflows/{workflow['id']}/execute",
            json={"wait": True},
            headers=tokens.headers("editor"),
        )
        return str(response.json()["execution"]["status"])

    made = [create_token(f"user{n}", f"team{n % 3}", Role.VIEWER) for n in range(20)]
    results = await asyncio.gather(*(execute() for _ in range(20)), *made)
    assert results[:20] == ["COMPLETED"] * 20
    assert all(isinstance(token, str) for token in results[20:])
    assert await Membership.filter(user__name__startswith="user").count() == 20


async def test_statements_sent_around_the_orm_are_in_the_sql_debug_log(app, client, tokens, caplog):
    workflow = await create_workflow(client, tokens.headers(), notify())
    caplog.set_level(logging.DEBUG, logger="runcast.sql")
    caplog.set_level(logging.DEBUG, logger="tortoise.db_client")
    response = await client.get(f"{WS}/workflows/{workflow['id']}", headers=tokens.headers())
    assert response.status_code == 200
    logged = " ".join(record.getMessage() for record in caplog.records)
    assert "FROM workflow t WHERE t.id = " in logged
    assert workflow["id"] in logged


@pytest.fixture
def gate() -> Iterator[asyncio.Event]:
    """An action `gated` that waits for the gate, then succeeds with a task to store with
    its step (as the built-in `create_task` does)."""
    opened = asyncio.Event()

    async def gated(action: dict, context: ActionContext) -> ActionResult:
        task = {
            "id": f"task_{context.execution_id}",
            "workspace_id": context.workspace_id,
            "execution_id": context.execution_id,
            "title": "gated",
            "description": None,
            "priority": None,
            "assigned_to": None,
            "status": "TODO",
            "created_at": utcnow(),
        }
        await opened.wait()
        return StoringResult(True, {"passed": True}, rows=(StoredRow(Task, task),))

    runcast.register_action_handler("gated", gated)
    try:
        yield opened
    finally:
        unregister_action_handler("gated")


async def test_rows_stored_with_a_step_exist_exactly_when_its_result_does(
    app, client, tokens, gate
):
    workflow = await create_workflow(client, tokens.headers(), {"type": "gated", "config": {}})
    lost, kept = [await _start(client, tokens, workflow["id"]) for _ in range(2)]
    await eventually_running(lost)
    # Another node takes over `lost` while its step runs: that step's commit must fail.
    await Execution.filter(id=lost).update(fencing_token=F("fencing_token") + 1)
    gate.set()
    for _ in range(300):
        if await Execution.filter(id=kept, status="COMPLETED").exists():
            break
        await asyncio.sleep(0.01)
    assert await Task.filter(execution_id=kept).count() == 1
    assert await Task.filter(execution_id=lost).count() == 0
    assert await ExecutionEvent.filter(execution_id=lost).count() == 0


async def _start(client, tokens, workflow_id: str) -> str:
    response = await client.post(
        f"{WS}/workflows/{workflow_id}/execute", json={}, headers=tokens.headers("editor")
    )
    assert response.status_code == 201, response.text
    return str(response.json()["execution"]["id"])


async def eventually_running(execution_id: str) -> None:
    for _ in range(300):
        if await StepRun.filter(execution_id=execution_id, status="running").exists():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{execution_id} never started its step")


@pytest.mark.settings(poll_seconds=3600)
async def test_a_cancelled_capped_claim_still_ends_and_gives_its_connection_back(
    app, client, tokens, backend
):
    """The engine cancels its dispatcher when it stops. Here a capped claim waits for the
    lock that orders capped claims on Postgres (held by another transaction), is cancelled,
    and still claims once the lock is free, so its transaction ends and its connection goes
    back to the pool."""
    if backend != "postgres":
        pytest.skip("SQLite's claims are its store thread's work, which a cancel never stops")
    workflow = await create_workflow(client, tokens.headers(), notify())
    queued = await Execution.create(
        id="exec_capped_claim_0001",
        workspace_id=(await Workspace.get(slug="acme")).id,
        workflow_id=workflow["id"],
        status="PENDING",
        concurrency_limit=1,
        concurrency_key="",
        created_at=utcnow(),
        started_at=utcnow(),
    )
    async with in_transaction() as holder:
        await holder.execute_query("SELECT pg_advisory_xact_lock($1)", [claims.CAPPED_LOCK])
        claim = asyncio.create_task(  # outside the holder's transaction
            claims.claim_capped("node_other", 1, utcnow(), timedelta(seconds=30)),
            context=contextvars.Context(),
        )
        waiting = "SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
        while (await statements.fetch(waiting, []))[0]["n"] == 0:  # noqa: ASYNC110
            await asyncio.sleep(0.01)  # until the claim waits for the lock, in its transaction
        claim.cancel()
        await asyncio.sleep(0.05)
        assert not claim.done()  # it runs on until the lock is free
    with pytest.raises(asyncio.CancelledError):
        await claim
    stored = await Execution.get(id=queued.id)
    assert (stored.status, stored.lease_owner) == ("RUNNING", "node_other")
