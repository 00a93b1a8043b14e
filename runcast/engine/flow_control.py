"""Per-workflow flow control: `concurrency {limit, key}` caps RUNNING executions per key.

An execution takes its workflow's limit and its rendered key when it is created; the
dispatcher then claims capped executions only while fewer than `limit` of the same
workflow and key run (`store.claims.claim_capped`), in creation order, so the rest wait
PENDING. A capped execution is never started straight from its request: only a claim
counts what runs, across every node.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from runcast.engine.templates import as_text, render

MAX_KEY_LENGTH = 200


def concurrency_slot(
    setting: Mapping[str, Any] | None, trigger_data: Any, variables: Any
) -> tuple[int | None, str | None]:
    """The (limit, key) an execution created with this trigger data and these variables
    takes from its workflow's `concurrency` setting; (None, None) without one. The key is
    its template rendered against `{trigger, variables}` as text (an object or list as
    compact JSON), cut to 200 characters; "" without a template or when the template names
    a missing value (one bucket for all of those)."""
    if not setting:
        return None, None
    template = setting.get("key")
    if template is None:
        return int(setting["limit"]), ""
    text = as_text(render(template, {"trigger": trigger_data, "variables": variables}))
    return int(setting["limit"]), text[:MAX_KEY_LENGTH]
