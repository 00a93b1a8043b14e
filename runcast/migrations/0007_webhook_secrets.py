"""Webhook secrets stored inside the trigger, by versions before migration 0004.

Those versions stored any trigger object, so a webhook trigger could hold its own
`"secret"`. Deliveries check only `workflow.hook_secret`, and answers must never show a
secret, so each such secret moves into `hook_secret` and out of the stored trigger. A
secret that `hook_secret` cannot hold (not a string of 1-200 characters) stays where it
is: the trigger then fails validation, so the workflow has no hook (any it was given is
taken away) until its trigger is saved again.
"""

from typing import Any

from tortoise import migrations
from tortoise.migrations import operations as ops

MAX_SECRET_CHARS = 200


def _movable(secret: Any) -> bool:
    return isinstance(secret, str) and 1 <= len(secret) <= MAX_SECRET_CHARS


async def move_secrets(apps: Any, schema_editor: Any) -> None:
    workflow_model = apps.get_model("runcast", "Workflow")
    client = schema_editor.client
    for row in await workflow_model.all().using_db(client):
        trigger = row.trigger
        if not isinstance(trigger, dict) or trigger.get("type") != "webhook":
            continue
        if "secret" not in trigger:
            continue
        secret = trigger["secret"]
        if _movable(secret):
            if row.hook_secret is None:
                row.hook_secret = secret
            row.trigger = {k: v for k, v in trigger.items() if k != "secret"}
            await row.save(using_db=client, update_fields=["trigger", "hook_secret"])
        elif secret is None:
            row.trigger = {k: v for k, v in trigger.items() if k != "secret"}
            await row.save(using_db=client, update_fields=["trigger"])
        elif row.hook_id is not None:
            row.hook_id = None
            await row.save(using_db=client, update_fields=["hook_id"])


class Migration(migrations.Migration):
    dependencies = [("runcast", "0006_execution_concurrency")]

    initial = False

    operations = [ops.RunPython(move_secrets, ops.RunPython.noop)]
