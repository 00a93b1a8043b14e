"""Validation of a workflow's `trigger` and `concurrency` (see docs/triggers.md).

A trigger that is not an object is 400 VALIDATION_ERROR like any wrongly typed field; an
object that does not describe a trigger (unknown type or field, bad cron, unknown time
zone, bad filter) is 422 WORKFLOW_INVALID with the offending field named, e.g.
`trigger.cron`. A webhook's `secret` is taken out of the trigger: it is stored apart and
never answered (see `TriggerFields`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterError, croniter

from runcast.domain.clock import utcnow
from runcast.domain.enums import TriggerType
from runcast.engine.conditions import OPERATORS, UNARY_OPERATORS
from runcast.engine.schedules import next_tick
from runcast.errors import WorkflowInvalid

TRIGGER_TYPES = tuple(TriggerType)
WEBHOOK_MODES = ("async", "sync")
OVERLAP_POLICIES = ("skip", "allow", "buffer_one")
MAX_CATCHUP_SECONDS = 7 * 24 * 3600
DEFAULT_CATCHUP_SECONDS = 60
MAX_SECRET_CHARS = 200
MAX_CRON_CHARS = 200
MAX_FILTERS = 20
MAX_FILTER_FIELD = 500
MAX_CONCURRENCY_LIMIT = 10_000
MAX_CONCURRENCY_KEY = 200
EVENT_NAME = re.compile(r"^[A-Za-z0-9_.:-]{1,200}$")
"""Event names: letters, digits and `_ . : -`, e.g. `order.created`."""

FIELDS_BY_TYPE: dict[str, frozenset[str]] = {
    TriggerType.MANUAL: frozenset({"type"}),
    TriggerType.WEBHOOK: frozenset({"type", "mode", "secret"}),
    TriggerType.SCHEDULE: frozenset(
        {"type", "cron", "timezone", "overlap", "catchupWindowSeconds", "paused"}
    ),
    TriggerType.EVENT: frozenset({"type", "event", "filter"}),
}

_KEEP = object()


def invalid(field: str, message: str) -> WorkflowInvalid:
    """422 WORKFLOW_INVALID naming `field`."""
    return WorkflowInvalid(f"{field}: {message}", [{"field": field, "message": message}])


@dataclass(frozen=True)
class TriggerFields:
    """What a valid trigger stores: the trigger as answered (no secret), the webhook secret
    (`KEEP` when the input did not mention it) and the followed event's name."""

    trigger: dict[str, Any]
    secret: Any
    event_name: str | None

    def model_fields(self) -> dict[str, Any]:
        """The workflow's model fields this trigger sets."""
        fields: dict[str, Any] = {"trigger": self.trigger, "event_name": self.event_name}
        if self.trigger["type"] != TriggerType.WEBHOOK:
            fields["hook_id"] = None
            fields["hook_secret"] = None
        elif self.secret is not _KEEP:
            fields["hook_secret"] = self.secret
        return fields


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _webhook(trigger: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    mode = trigger.get("mode", "async")
    if mode not in WEBHOOK_MODES:
        raise invalid("trigger.mode", f"must be one of {', '.join(WEBHOOK_MODES)}")
    secret = trigger.get("secret", _KEEP)
    if (
        secret is not _KEEP
        and secret is not None
        and (not isinstance(secret, str) or not 1 <= len(secret) <= MAX_SECRET_CHARS)
    ):
        raise invalid("trigger.secret", f"a string of 1 to {MAX_SECRET_CHARS} characters, or null")
    return {"type": TriggerType.WEBHOOK.value, "mode": mode}, secret


def check_cron(cron: Any, field: str = "trigger.cron") -> str:
    """A cron expression of 5 fields (minute precision) or 6 (seconds last, as croniter reads
    them) that has a next tick: croniter looks for one a bounded number of years ahead
    (`max_years_between_matches`), so a date that never comes is refused here rather
    than failing wherever ticks are computed."""
    if not isinstance(cron, str) or not cron.strip():
        raise invalid(field, 'required, a cron expression such as "*/5 * * * *"')
    cron = " ".join(cron.split())
    if len(cron) > MAX_CRON_CHARS or len(cron.split(" ")) not in (5, 6):
        raise invalid(field, "a cron expression of 5 fields, or 6 with seconds last")
    try:
        valid = croniter.is_valid(cron)
    except Exception:  # the parser tripping on odd input is still a bad expression
        valid = False
    if not valid:
        raise invalid(field, f"{cron!r} is not a valid cron expression")
    try:
        next_tick(cron, "UTC", utcnow())
    except (CroniterError, OverflowError):  # no date matches, e.g. "0 0 30 2 *" (Feb 30)
        raise invalid(field, f"{cron!r} never comes: no date matches it") from None
    return str(cron)


def check_timezone(name: Any, field: str = "trigger.timezone") -> str:
    """An IANA time zone name known to zoneinfo, e.g. `Europe/Berlin`."""
    if not isinstance(name, str) or not name or len(name) > 100:
        raise invalid(field, "an IANA time zone name such as Europe/Berlin")
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise invalid(field, f"unknown time zone {name!r}") from None
    return name


def _schedule(trigger: dict[str, Any]) -> dict[str, Any]:
    catchup = trigger.get("catchupWindowSeconds", DEFAULT_CATCHUP_SECONDS)
    if not _integer(catchup) or not 0 <= catchup <= MAX_CATCHUP_SECONDS:
        raise invalid("trigger.catchupWindowSeconds", f"an integer from 0 to {MAX_CATCHUP_SECONDS}")
    overlap = trigger.get("overlap", "skip")
    if overlap not in OVERLAP_POLICIES:
        raise invalid("trigger.overlap", f"must be one of {', '.join(OVERLAP_POLICIES)}")
    paused = trigger.get("paused", False)
    if not isinstance(paused, bool):
        raise invalid("trigger.paused", "must be true or false")
    return {
        "type": TriggerType.SCHEDULE.value,
        "cron": check_cron(trigger.get("cron")),
        "timezone": check_timezone(trigger.get("timezone", "UTC")),
        "overlap": overlap,
        "catchupWindowSeconds": catchup,
        "paused": paused,
    }


def check_event_name(name: Any, field: str) -> str:
    if not isinstance(name, str) or not EVENT_NAME.match(name):
        raise invalid(field, "an event name of 1-200 letters, digits, '_', '.', ':' or '-'")
    return name


def _condition(condition: Any, field: str) -> dict[str, Any]:
    if not isinstance(condition, dict):
        raise invalid(field, 'a condition such as {"field", "operator", "value"}')
    unknown = sorted(set(condition) - {"field", "operator", "value"})
    if unknown:
        raise invalid(f"{field}.{unknown[0]}", "unknown field")
    path = condition.get("field")
    if not isinstance(path, str) or not 1 <= len(path) <= MAX_FILTER_FIELD or "" in path.split("."):
        raise invalid(f"{field}.field", "a dotted path into the event's data, such as amount")
    operator = condition.get("operator")
    if not isinstance(operator, str) or operator not in OPERATORS:
        raise invalid(f"{field}.operator", f"must be one of {', '.join(OPERATORS)}")
    if operator not in UNARY_OPERATORS and "value" not in condition:
        raise invalid(f"{field}.value", f"required for operator {operator}")
    return dict(condition)


def check_filter(value: Any) -> dict[str, Any] | list[dict[str, Any]]:
    """One condition, or a list of conditions that must all hold."""
    if isinstance(value, list):
        if not 1 <= len(value) <= MAX_FILTERS:
            raise invalid("trigger.filter", f"a list of 1 to {MAX_FILTERS} conditions")
        return [_condition(item, f"trigger.filter.{i}") for i, item in enumerate(value)]
    return _condition(value, "trigger.filter")


def _event(trigger: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "type": TriggerType.EVENT.value,
        "event": check_event_name(trigger.get("event"), "trigger.event"),
    }
    if trigger.get("filter") is not None:
        out["filter"] = check_filter(trigger["filter"])
    return out


def check_trigger(trigger: dict[str, Any]) -> TriggerFields:
    """Validate a trigger object (the caller has checked it is one)."""
    trigger_type = trigger.get("type", TriggerType.MANUAL.value)
    if trigger_type not in TRIGGER_TYPES:
        raise invalid("trigger.type", f"must be one of {', '.join(TRIGGER_TYPES)}")
    unknown = sorted(set(trigger) - FIELDS_BY_TYPE[trigger_type])
    if unknown:
        raise invalid(f"trigger.{unknown[0]}", f"not a field of a {trigger_type} trigger")
    secret: Any = None
    if trigger_type == TriggerType.WEBHOOK:
        stored, secret = _webhook(trigger)
    elif trigger_type == TriggerType.SCHEDULE:
        stored = _schedule(trigger)
    elif trigger_type == TriggerType.EVENT:
        stored = _event(trigger)
    else:
        stored = {"type": TriggerType.MANUAL.value}
    return TriggerFields(stored, secret, stored.get("event"))


def check_concurrency(value: Any) -> dict[str, Any] | None:
    """`null` (no cap) or `{"limit": N, "key"?: "{{trigger.userId}}"}`."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise invalid("concurrency", 'an object such as {"limit": 2}, or null')
    unknown = sorted(set(value) - {"limit", "key"})
    if unknown:
        raise invalid(f"concurrency.{unknown[0]}", "unknown field")
    limit = value.get("limit")
    if (
        not isinstance(limit, int)
        or isinstance(limit, bool)
        or not 1 <= limit <= MAX_CONCURRENCY_LIMIT
    ):
        raise invalid("concurrency.limit", f"an integer from 1 to {MAX_CONCURRENCY_LIMIT}")
    out: dict[str, Any] = {"limit": limit}
    key = value.get("key")
    if key is not None:
        if not isinstance(key, str) or not 1 <= len(key) <= MAX_CONCURRENCY_KEY:
            raise invalid("concurrency.key", f"a template of 1 to {MAX_CONCURRENCY_KEY} characters")
        out["key"] = key
    return out
