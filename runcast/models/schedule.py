"""The schedule of a workflow whose trigger is a cron schedule: its next tick, kept beside
the workflow so that every node can find the schedules due now with one indexed read."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

from runcast.models.workflow import Workflow


class Schedule(Model):
    """One row per workflow with a schedule trigger, written when the workflow is saved.

    `next_tick_at` is the next tick not yet handled (UTC); the nodes' tick loops start it
    and move it on. `buffered_tick_at` is the one tick kept by the `buffer_one` overlap
    policy while an earlier execution runs.
    """

    workflow: fields.OneToOneRelation[Workflow] = fields.OneToOneField(
        "runcast.Workflow", related_name="schedule", on_delete=fields.CASCADE, pk=True
    )
    workflow_id: str
    cron = fields.CharField(max_length=200)
    timezone = fields.CharField(max_length=64)
    overlap = fields.CharField(max_length=12)
    catchup_window_seconds = fields.IntField()
    paused = fields.BooleanField(default=False)
    next_tick_at = fields.DatetimeField()
    buffered_tick_at = fields.DatetimeField(null=True)

    class Meta:
        table = "schedule"
        indexes = (("paused", "next_tick_at"), ("buffered_tick_at",))
