"""Webhook deliveries (`POST /hooks/<hook id>`) and hook rotation (see docs/triggers.md).

A delivery needs no bearer token: the hook id is the credential, and a workflow with a
secret also requires `X-Runcast-Signature: sha256=<hex HMAC-SHA256 of the raw body>`,
compared in constant time. A delivery that fails any check starts nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from runcast.domain import records
from runcast.domain.callers import Caller
from runcast.domain.enums import TriggerType, WorkflowStatus
from runcast.engine.scheduler import Engine
from runcast.errors import ObjectNotFound, Unauthorized, ValidationError, WorkflowInactive
from runcast.ids import is_client_key
from runcast.jsonsafe import json_problem, json_size, parse_json
from runcast.models import Execution, Role, Workflow
from runcast.resolvers import records as to_record
from runcast.resolvers.auth import require_role
from runcast.resolvers.executions import (
    MAX_INPUT_BYTES,
    WAIT_LIMIT_S,
    Started,
    TriggerStart,
    load_steps_with_state,
    start_triggered,
    trigger_key,
)
from runcast.resolvers.trigger_input import check_trigger, invalid
from runcast.resolvers.triggers import new_hook_id
from runcast.resolvers.workflows import get_workflow_in
from runcast.store import reads

MAX_DELIVERY_KEY = 150
HOOK_ID = re.compile(r"^hk_[A-Za-z0-9_-]{20,60}$")
SIGNATURE_HEADER = "x-runcast-signature"
CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})
SYNC_GRACE_S = 5.0
"""How long past the workflow's timeout a sync delivery waits for the execution to end."""
MAX_SYNC_WAIT_S = 300.0
"""The longest a sync delivery holds its request open, whatever the workflow's timeout."""


@dataclass(frozen=True)
class Delivery:
    """One webhook request as received."""

    hook_id: str
    body: bytes
    query: dict[str, str]
    headers: Iterable[tuple[str, str]]
    idempotency_key: str | None


@dataclass(frozen=True)
class Delivered:
    """What a delivery started (or found under its key), and whether it waited for it."""

    execution: Execution
    sync: bool
    finished: records.Execution | None = None
    result: Any = None


def signature(secret: str, body: bytes) -> str:
    """The `X-Runcast-Signature` value for `body` signed with `secret`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _check_signature(workflow: Workflow, body: bytes, given: str | None) -> None:
    if workflow.hook_secret is None:
        return
    expected = signature(workflow.hook_secret, body).encode()
    if given is None or not hmac.compare_digest(expected, given.encode("utf-8", "replace")):
        raise Unauthorized(
            "Missing or wrong X-Runcast-Signature (sha256=<hex HMAC-SHA256 of the body>)"
        )


def _body_value(body: bytes, content_type: str) -> Any:
    """The body as trigger data: its JSON value (a JSON content type must hold valid JSON),
    otherwise its text, or null when empty."""
    if not body.strip():
        return None
    if "json" in content_type.lower():
        return parse_json(body, "The webhook body")
    try:
        return parse_json(body, "The webhook body")
    except ValidationError:
        pass
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise ValidationError("The webhook body must be UTF-8 text or JSON") from None


def trigger_data(delivery: Delivery) -> dict[str, Any]:
    """`{body, query, headers}`; header names lower-cased, credentials left out. 400
    VALIDATION_ERROR unless the whole of it can be stored (`json_problem`: no NUL, no
    lone surrogate, not too deep) and is at most `MAX_INPUT_BYTES`, the limit of any
    execution's trigger data."""
    if len(delivery.body) > MAX_INPUT_BYTES:
        raise ValidationError(f"The webhook body is larger than {MAX_INPUT_BYTES} bytes")
    headers: dict[str, str] = {}
    for name, value in delivery.headers:
        name = name.lower()
        if name in CREDENTIAL_HEADERS:
            continue
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    body = _body_value(delivery.body, headers.get("content-type", ""))
    data = {"body": body, "query": delivery.query, "headers": headers}
    problem = json_problem(data)
    if problem is not None:
        raise ValidationError(f"The webhook's trigger data (body, query, headers) is {problem}")
    if json_size(data) > MAX_INPUT_BYTES:
        raise ValidationError(
            f"The webhook's trigger data (body, query and headers) is larger than "
            f"{MAX_INPUT_BYTES} bytes"
        )
    return data


async def _hooked_workflow(hook_id: str) -> Workflow:
    workflow = None
    if HOOK_ID.match(hook_id):
        workflow = await reads.workflow_by_hook(hook_id)
    if workflow is None or workflow.trigger.get("type") != TriggerType.WEBHOOK:
        raise ObjectNotFound("No webhook at this address")
    return workflow


def _sync_wait_s(workflow: Workflow) -> float:
    if workflow.timeout_ms is None:
        return WAIT_LIMIT_S
    return min(workflow.timeout_ms / 1000 + SYNC_GRACE_S, MAX_SYNC_WAIT_S)


def _result(steps: list[records.Step]) -> Any:
    """The output of the last step that produced one."""
    for step in reversed(steps):
        if step.output is not None:
            return step.output
    return None


async def _finished(workflow: Workflow, started: Started, engine: Engine) -> Delivered:
    execution = started.execution
    runner = await engine.wait_finished(execution.id, _sync_wait_s(workflow))
    if runner is not None:
        execution, steps = runner.execution, runner.steps
    else:
        execution = await Execution.get(id=execution.id)
        steps = await load_steps_with_state(execution)
    view = to_record.execution(execution, steps)
    return Delivered(execution, True, view, _result(list(view.steps or ())))


async def deliver(delivery: Delivery, engine: Engine) -> Delivered:
    """Check a delivery and start its workflow (async), or start it and wait for the end
    (sync). Unknown hook → 404; bad signature → 401; inactive workflow → 409; trigger
    data that cannot be stored → 400."""
    workflow = await _hooked_workflow(delivery.hook_id)
    _check_signature(workflow, delivery.body, _header(delivery, SIGNATURE_HEADER))
    if workflow.status != WorkflowStatus.ACTIVE:
        raise WorkflowInactive(f"Workflow {workflow.id!r} is not active")
    key = delivery.idempotency_key
    if key is not None and not is_client_key(key, MAX_DELIVERY_KEY):
        raise ValidationError(
            f"Idempotency-Key: 1 to {MAX_DELIVERY_KEY} printable ASCII characters"
        )
    start = TriggerStart(
        TriggerType.WEBHOOK,
        trigger_data(delivery),
        None if key is None else trigger_key("webhook", key),
    )
    started, _created = await start_triggered(workflow, start, engine)
    if workflow.trigger.get("mode") == "sync":
        return await _finished(workflow, started, engine)
    return Delivered(started.execution, False)


def _header(delivery: Delivery, wanted: str) -> str | None:
    for name, value in delivery.headers:
        if name.lower() == wanted:
            return value
    return None


async def rotate(caller: Caller, workspace: str, workflow_id: str) -> records.Workflow:
    """Give a webhook workflow a new hook id; the old URL answers 404 from now on."""
    access = await require_role(caller, workspace, Role.ADMIN)
    workflow = await get_workflow_in(access, workflow_id)
    if workflow.trigger.get("type") != TriggerType.WEBHOOK:
        raise invalid("trigger.type", "the workflow's trigger is not a webhook")
    check_trigger(workflow.trigger)  # a trigger stored before validation: save it again first
    workflow.hook_id = new_hook_id()
    await workflow.save(update_fields=["hook_id", "updated_at"])
    return to_record.workflow(workflow)
