"""`condition`: compares a field of the execution's scope; false skips the later steps."""

from __future__ import annotations

from typing import Any

from runcast.engine.actions.base import ActionContext, ActionResult
from runcast.engine.actions.checks import is_template, unknown_keys
from runcast.engine.actions.registry import ActionType
from runcast.engine.conditions import OPERATORS, UNARY_OPERATORS, evaluate
from runcast.engine.templates import lookup

SETTING = ("a condition setting", "condition settings")
KEYS = ("field", "operator", "value")
ROOTS = ("trigger", "variables", "steps", "execution", "workflow")
MAX_FIELD = 500


def _field_problem(field: Any) -> str | None:
    if not isinstance(field, str) or not field.strip():
        return "config.field is required: a dotted path such as trigger.userType"
    if is_template(field):
        return "config.field is a dotted path (trigger.userType), not a {{ template }}"
    if len(field) > MAX_FIELD:
        return f"config.field must be at most {MAX_FIELD} characters"
    parts = field.strip().split(".")
    if parts[0] not in ROOTS or not all(parts):
        return f"config.field must be a dotted path starting with one of {', '.join(ROOTS)}"
    return None


def validate(config: dict[str, Any]) -> list[str]:
    errors = unknown_keys(config, KEYS, SETTING, "config.")
    field_problem = _field_problem(config.get("field"))
    if field_problem is not None:
        errors.append(field_problem)
    operator = config.get("operator")
    if not isinstance(operator, str) or operator not in OPERATORS:
        errors.append(f"config.operator must be one of {', '.join(OPERATORS)}")
    elif operator not in UNARY_OPERATORS and "value" not in config:
        errors.append(f"config.value is required for operator {operator}")
    return errors


async def run(action: dict[str, Any], context: ActionContext) -> ActionResult:
    config = action["config"]
    field, operator, expected = config["field"], config["operator"], config.get("value")
    actual = lookup(context.scope, field.strip())
    result = evaluate(actual, operator, expected)
    output = {"result": result, "field": field, "operator": operator, "actual": actual}
    if operator not in UNARY_OPERATORS:
        output["value"] = expected
    return ActionResult(True, output)


ACTION = ActionType("condition", run, validate, dry_run=True, builtin=True)
