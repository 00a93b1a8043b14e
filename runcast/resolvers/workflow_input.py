"""Validation of workflow definitions.

Wrong top-level types are 400 VALIDATION_ERROR; a definition whose actions do not hold
together (unknown type, duplicate id, bad config) is 422 WORKFLOW_INVALID, with one detail
per offending action; so is a trigger or concurrency setting that does not hold together
(see `trigger_input`), naming its field.
"""

from __future__ import annotations

import re
from typing import Any

from runcast.domain.enums import OnError, TriggerType, WorkflowStatus
from runcast.engine.actions.checks import is_integer, unknown_keys
from runcast.engine.actions.registry import ActionType, get_action_type
from runcast.errors import ValidationError, WorkflowInvalid
from runcast.jsonsafe import json_problem, json_size
from runcast.resolvers.trigger_input import check_concurrency, check_trigger
from runcast.resolvers.triggers import new_hook_id

STATUSES = tuple(WorkflowStatus)
ON_ERROR = tuple(OnError)
MAX_ACTIONS = 100
MAX_CONFIG_BYTES = 64 * 1024
MAX_TYPE_CHARS = 100
ACTION_FIELDS = ("id", "type", "name", "config", "onError", "timeout")
MAX_ACTION_TIMEOUT_MS = 3_600_000
MAX_WORKFLOW_TIMEOUT_MS = 7 * 24 * 3_600_000
ACTION_ID = re.compile(r"^[A-Za-z0-9_-]{1,100}$")
FIELDS = {"name", "description", "status", "trigger", "timeoutMs", "actions", "concurrency"}


def _bad(field: str, message: str) -> ValidationError:
    return ValidationError(f"{field}: {message}", [{"field": field, "message": message}])


def _check_name(body: dict[str, Any]) -> str:
    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        raise _bad("name", "required, a non-empty string")
    if len(name) > 200:
        raise _bad("name", "at most 200 characters")
    return name.strip()


def _check_optional_fields(body: dict[str, Any], out: dict[str, Any]) -> None:
    if "description" in body:
        description = body["description"]
        if description is not None and not isinstance(description, str):
            raise _bad("description", "must be a string")
        if isinstance(description, str) and len(description) > 10_000:
            raise _bad("description", "at most 10000 characters")
        out["description"] = description
    if "status" in body:
        if body["status"] not in STATUSES:
            raise _bad("status", f"must be one of {', '.join(STATUSES)}")
        out["status"] = body["status"]
    if "trigger" in body:
        trigger = body["trigger"]
        if trigger is None:
            trigger = {"type": TriggerType.MANUAL}
        if not isinstance(trigger, dict):
            raise _bad("trigger", 'must be an object such as {"type": "manual"}')
        out.update(check_trigger(trigger).model_fields())
    if "concurrency" in body:
        out["concurrency"] = check_concurrency(body["concurrency"])
    if "timeoutMs" in body:
        timeout = body["timeoutMs"]
        if timeout is not None and (
            isinstance(timeout, bool)
            or not isinstance(timeout, int)
            or not 1 <= timeout <= MAX_WORKFLOW_TIMEOUT_MS
        ):
            raise _bad("timeoutMs", f"an integer from 1 to {MAX_WORKFLOW_TIMEOUT_MS}, or null")
        out["timeout_ms"] = timeout


def _timeout_problem(timeout: Any) -> str | None:
    if timeout is None or (is_integer(timeout) and 1 <= timeout <= MAX_ACTION_TIMEOUT_MS):
        return None
    return f"timeout must be an integer of milliseconds from 1 to {MAX_ACTION_TIMEOUT_MS}"


def _config_problems(registered: ActionType, config: Any) -> list[str]:
    if not isinstance(config, dict):
        return ["config must be an object"]
    size = json_size(config)
    if size > MAX_CONFIG_BYTES:
        return [f"config is {size} bytes of JSON, more than {MAX_CONFIG_BYTES}"]
    if registered.validate is None:
        return []
    try:
        return registered.validate(config)
    except Exception as exc:  # a validator tripping on odd input is still a bad config
        return [f"config is invalid: {exc}"]


def _action_problems(action: dict[str, Any]) -> list[str]:
    problems = unknown_keys(action, ACTION_FIELDS, ("an action field", "action fields"))
    action_type = action.get("type")
    if not isinstance(action_type, str) or not action_type:
        return [*problems, "type is required"]
    if len(action_type) > MAX_TYPE_CHARS:
        return [*problems, f"type must be at most {MAX_TYPE_CHARS} characters"]
    registered = get_action_type(action_type)
    if registered is None:
        return [*problems, f"unknown action type {action_type!r}"]
    name = action.get("name")
    if name is not None and (not isinstance(name, str) or len(name) > 200):
        problems.append("name must be a string of at most 200 characters")
    if action.get("onError", OnError.STOP) not in ON_ERROR:
        problems.append(f"onError must be one of {', '.join(ON_ERROR)}")
    timeout_problem = _timeout_problem(action.get("timeout"))
    if timeout_problem is not None:
        problems.append(timeout_problem)
    problems.extend(_config_problems(registered, action.get("config", {})))
    return problems


def check_actions(actions: Any) -> list[dict[str, Any]]:
    """Validate and normalise an action list, assigning `action-N` ids where omitted."""
    if not isinstance(actions, list):
        raise _bad("actions", "must be a list of actions")
    if not actions:
        raise WorkflowInvalid(
            "A workflow needs at least one action", [{"field": "actions", "message": "empty"}]
        )
    if len(actions) > MAX_ACTIONS:
        raise _bad("actions", f"at most {MAX_ACTIONS} actions")
    details: list[dict[str, Any]] = []
    normalised: list[dict[str, Any]] = []
    seen: set[str] = set()
    for index, action in enumerate(actions):
        if not isinstance(action, dict):
            details.append({"index": index, "actionId": None, "message": "must be an object"})
            continue
        action_id = action.get("id", f"action-{index + 1}")
        problems = _action_problems(action)
        if not isinstance(action_id, str) or not ACTION_ID.match(action_id):
            problems.insert(0, "id must be 1-100 letters, digits, '-' or '_'")
        elif action_id in seen:
            problems.insert(0, f"duplicate action id {action_id!r}")
        seen.add(str(action_id))
        for problem in problems:
            details.append({"index": index, "actionId": action_id, "message": problem})
        entry = {
            "id": action_id,
            "type": action.get("type"),
            "config": action.get("config", {}),
            "onError": action.get("onError", OnError.STOP),
        }
        if action.get("name") is not None:
            entry["name"] = action["name"]
        timeout = action.get("timeout")
        if timeout is not None:
            entry["timeout"] = int(timeout) if is_integer(timeout) else timeout
        normalised.append(entry)
    if details:
        first = details[0]
        raise WorkflowInvalid(
            f"Action {first['actionId'] or first['index']}: {first['message']}", details
        )
    return normalised


def _require_object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ValidationError("The request body must be a JSON object")
    problem = json_problem(body)
    if problem is not None:
        raise ValidationError(f"The workflow is {problem}")
    unknown = sorted(set(body) - FIELDS)
    if unknown:
        raise _bad(unknown[0], "unknown field")
    return body


def parse_create(body: Any) -> dict[str, Any]:
    """Model fields for a new workflow."""
    body = _require_object(body)
    out: dict[str, Any] = {
        "name": _check_name(body),
        "status": WorkflowStatus.ACTIVE,
        "trigger": {"type": TriggerType.MANUAL},
    }
    _check_optional_fields(body, out)
    if out["trigger"]["type"] == TriggerType.WEBHOOK:
        out["hook_id"] = new_hook_id()
    if "actions" not in body:
        raise _bad("actions", "required, a list of actions")
    out["actions"] = check_actions(body["actions"])
    return out


def parse_update(body: Any) -> dict[str, Any]:
    """Model fields to change on an existing workflow (PATCH: only those given)."""
    body = _require_object(body)
    out: dict[str, Any] = {}
    if "name" in body:
        out["name"] = _check_name(body)
    _check_optional_fields(body, out)
    if "actions" in body:
        out["actions"] = check_actions(body["actions"])
    return out
