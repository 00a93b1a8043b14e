"""Runs one execution: each action under its timeout and error strategy, step by step.

A step that reached a final state is never run again: on resume the runner starts at the
first unfinished step. The step that was in flight runs again with the same idempotency
key, and a `wait` keeps its original start so it sleeps only the remaining time.

A step's `attempts` is stored as each attempt starts (the first one in the write that
starts the step), so it counts every run: one cut off by a timeout, and one that a crash
interrupted before the step ran again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from runcast.domain.clock import utcnow
from runcast.domain.enums import (
    FINAL_EXECUTION_STATUSES,
    FINAL_STEP_STATUSES,
    ExecutionStatus,
    OnError,
    StepStatus,
)
from runcast.domain.events import status_change
from runcast.engine.actions.base import ActionContext, ActionResult, StoredRow, StoringResult
from runcast.engine.actions.registry import ActionType, get_action_type
from runcast.engine.http_guard import HttpPolicy
from runcast.engine.persistence import Finish, Recorder, StaleExecution, StepChange, Transition
from runcast.engine.templates import render
from runcast.events.bus import EventBus
from runcast.jsonsafe import json_problem, json_size
from runcast.models import Execution, StepRun
from runcast.settings import Settings
from runcast.store.interface import Guard
from runcast.tasks import runs_to_end

logger = logging.getLogger("runcast.engine")

DEFAULT_ACTION_TIMEOUT_MS = 30_000
RETRIES = 3
MAX_OUTPUT_BYTES = 256 * 1024
CANCELLED_MESSAGE = "Cancelled by user"


class RunnerHost(Protocol):
    """What a runner uses of the engine that owns it."""

    @property
    def settings(self) -> Settings: ...
    @property
    def bus(self) -> EventBus: ...
    @property
    def recorder(self) -> Recorder: ...
    @property
    def http(self) -> HttpPolicy: ...


@dataclass
class Attempts:
    result: ActionResult
    count: int
    errors: list[str]
    stored: list[StoredRow]


def coerce_result(raw: Any) -> ActionResult:
    """Accept an ActionResult or a `{success, output, error}` dict; refuse anything else."""
    if isinstance(raw, Mapping):
        if not isinstance(raw.get("success"), bool):
            return ActionResult(False, error="handler result has no boolean 'success'")
        raw = ActionResult(bool(raw["success"]), raw.get("output"), raw.get("error"))
    if not isinstance(raw, ActionResult):
        return ActionResult(False, error=f"handler returned {type(raw).__name__}, not ActionResult")
    if raw.output is not None and not isinstance(raw.output, dict):
        return ActionResult(False, error="handler output must be an object")
    problem = json_problem(raw.output)
    if problem is not None:
        return ActionResult(False, error=f"handler output is {problem}")
    if json_size(raw.output) > MAX_OUTPUT_BYTES:
        return ActionResult(False, error=f"handler output is larger than {MAX_OUTPUT_BYTES} bytes")
    error = raw.error if raw.error is None or isinstance(raw.error, str) else str(raw.error)
    if not raw.success and not error:
        error = "action failed"
    return ActionResult(raw.success, raw.output, error, raw.retryable, raw.retry_after_s)


class ExecutionRunner:
    """Walks an execution's steps. Owned by the engine, which may cancel it."""

    def __init__(
        self,
        engine: RunnerHost,
        execution: Execution,
        steps: list[StepRun],
        fencing_token: int,
        started_step: StepRun | None = None,
    ) -> None:
        self.engine = engine
        self.execution = execution
        self.steps = steps
        # PENDING when this node took the execution straight from its request (see `_begin`).
        self.guard = Guard(fencing_token, ExecutionStatus(execution.status))
        self.cancel_requested = False
        self.started = False
        self.in_flight: StepRun | None = None
        self.started_step = started_step
        """The step marked running (stored so with the execution's insert, by `_begin` or
        by a commit) and not run yet."""

    async def _commit(
        self,
        changes: list[StepChange],
        finish: Finish | None = None,
        start_next: StepRun | None = None,
    ) -> None:
        transition = Transition(changes, finish, start_next)
        await self.engine.recorder.commit(self.execution, self.steps, transition, self.guard)
        self.started_step = start_next

    def _scope(self) -> dict[str, Any]:
        execution = self.execution
        return {
            "trigger": execution.trigger_data,
            "variables": execution.variables,
            "steps": {
                s.action_id: {"status": s.status, "output": s.output, "error": s.error}
                for s in self.steps
                if s.status in FINAL_STEP_STATUSES
            },
            "execution": {
                "id": execution.id,
                "isSimulation": execution.is_simulation,
                "triggeredBy": execution.triggered_by,
            },
            "workflow": {"id": execution.workflow_id},
        }

    async def run(self) -> None:
        """Run to a final state, or stop quietly when the engine shuts down."""
        self.started = True
        execution = self.execution
        try:
            if execution.cancel_requested or self.cancel_requested:
                await self._finish_cancelled()
                return
            if not await self._begin():
                return
            await self.engine.bus.publish_status(
                execution.workspace_id,
                status_change(execution),
            )
            try:
                async with asyncio.timeout(self._seconds_until(self.deadline())):
                    await self._run_steps()
            except TimeoutError:
                await self._finish_timed_out()
        except asyncio.CancelledError:
            if not self.cancel_requested:
                raise
            await asyncio.shield(self._finish_cancelled())
        except StaleExecution:
            logger.warning("execution %s was taken over; this node stops it", execution.id)

    @runs_to_end
    async def _begin(self) -> bool:
        """Move an execution taken straight from its request from PENDING to RUNNING, and
        start its first step, in one write. False when a cancel got there first."""
        if self.execution.status != ExecutionStatus.PENDING:
            return True
        unfinished = self._unfinished()
        first = unfinished[0] if unfinished else None
        if not await self.engine.recorder.begin(self.execution, self.guard, first):
            return False
        self.guard = Guard(self.guard.fencing_token, ExecutionStatus.RUNNING)
        self.started_step = first
        return True

    def deadline(self) -> datetime | None:
        """When the workflow's `timeoutMs` runs out, if it has one."""
        if not self.execution.timeout_ms:
            return None
        return self.execution.started_at + timedelta(milliseconds=self.execution.timeout_ms)

    async def reap(self) -> None:
        """Record the timeout for a run whose task ignored it (a handler that swallows
        cancellation). Later writes by that task fail: the execution is no longer RUNNING."""
        await self._finish_timed_out()

    @staticmethod
    def _seconds_until(deadline: datetime | None) -> float | None:
        if deadline is None:
            return None
        return max(0.0, (deadline - utcnow()).total_seconds())

    async def _run_steps(self) -> None:
        actions = self.execution.actions
        for index, step in enumerate(self.steps):
            if step.status in FINAL_STEP_STATUSES:
                continue
            action = actions[index]
            self.in_flight = step
            if step is not self.started_step:  # queued, or left running by a crash
                await self.engine.recorder.start_step(step, step.started_at or utcnow())
            self.started_step = None
            change, halt = await self._run_step(action, step)
            rest = [s for s in self.steps[index + 1 :] if s.status not in FINAL_STEP_STATUSES]
            failed = change.status == StepStatus.FAILED
            if failed and action.get("onError", OnError.STOP) != OnError.CONTINUE:
                skipped = [StepChange(s, StepStatus.SKIPPED) for s in rest]
                reason = f"Action {step.action_id} failed: {change.error}"
                finish = Finish(ExecutionStatus.FAILED, reason, "EXECUTION_FAILED")
                await self._commit([change, *skipped], finish)
                self.in_flight = None
                return
            if halt:
                why = {"reason": f"condition {step.action_id} was false"}
                skipped = [StepChange(s, StepStatus.SKIPPED, why) for s in rest]
                await self._commit([change, *skipped], Finish(ExecutionStatus.COMPLETED))
                self.in_flight = None
                return
            if rest:
                await self._commit([change], start_next=rest[0])
            else:
                await self._commit([change], Finish(ExecutionStatus.COMPLETED))
            self.in_flight = None
        if self.execution.status not in FINAL_EXECUTION_STATUSES:
            await self._commit([], Finish(ExecutionStatus.COMPLETED))

    async def _run_step(self, action: dict[str, Any], step: StepRun) -> tuple[StepChange, bool]:
        """Run one action with its strategy; return its final change and whether to halt."""
        action_type = get_action_type(action["type"])
        if action_type is None:
            return StepChange(
                step, StepStatus.FAILED, None, f"unknown action type {action['type']!r}", 0
            ), False
        if self.execution.is_simulation and not action_type.dry_run:
            reason = f"custom action {action_type.name} does not run in a dry run"
            return StepChange(step, StepStatus.SKIPPED, {"reason": reason}, None, 0), False
        try:
            rendered = {**action, "config": render(action.get("config", {}), self._scope())}
        except Exception as exc:  # a template walking odd data must not break the engine
            return StepChange(step, StepStatus.FAILED, None, f"template error: {exc}"), False
        attempts = await self._attempts(action_type, rendered, step)
        result = attempts.result
        output = dict(result.output) if result.output is not None else None
        if action.get("onError") == OnError.RETRY:
            output = {
                **(output or {}),
                "attempts": attempts.count,
                "attemptErrors": attempts.errors,
            }
        if not result.success:
            return StepChange(step, StepStatus.FAILED, output, result.error, attempts.count), False
        halt = action["type"] == "condition" and (output or {}).get("result") is False
        change = StepChange(step, StepStatus.SUCCESS, output, None, attempts.count, attempts.stored)
        return change, halt

    async def _attempts(
        self, action_type: ActionType, action: dict[str, Any], step: StepRun
    ) -> Attempts:
        """Run the handler, retrying per the strategy. The count includes the attempts of
        runs before this one (`step.attempts` already counts this run's first)."""
        retry = action.get("onError") == OnError.RETRY
        limit = 1 + (RETRIES if retry else 0)
        errors: list[str] = []
        result = ActionResult(False, error="not run")
        for tried in range(1, limit + 1):
            if tried > 1:
                await self.engine.recorder.count_retry(step)
            result, stored = await self._attempt(action_type, action, step, step.attempts)
            if result.success:
                return Attempts(result, step.attempts, errors, stored)
            errors.append(result.error or "action failed")
            if tried == limit or not result.retryable:
                break
            delay = self.engine.settings.retry_base_ms * (2 ** (tried - 1)) / 1000
            if result.retry_after_s is not None:
                delay = result.retry_after_s
            await asyncio.sleep(delay)
        return Attempts(result, step.attempts, errors, [])

    async def _attempt(
        self, action_type: ActionType, action: dict[str, Any], step: StepRun, attempt: int
    ) -> tuple[ActionResult, list[StoredRow]]:
        """The handler's result, and the rows it asked to store with a success."""
        timeout_ms = action.get("timeout")
        if timeout_ms is None and action["type"] != "wait":
            timeout_ms = DEFAULT_ACTION_TIMEOUT_MS
        assert step.started_at is not None
        execution = self.execution
        scope = self._scope()
        context = ActionContext(
            execution_id=execution.id,
            workspace_id=execution.workspace_id,
            workflow_id=execution.workflow_id,
            action_id=step.action_id,
            trigger_data=execution.trigger_data,
            variables=execution.variables,
            steps=scope["steps"],
            dry_run=execution.is_simulation,
            idempotency_key=f"{execution.id}:{step.action_id}",
            step_started_at=step.started_at,
            scope=scope,
            attempt=attempt,
            http=self.engine.http,
        )
        try:
            async with asyncio.timeout(timeout_ms / 1000 if timeout_ms else None):
                raw = await action_type.handler(action, context)
        except TimeoutError:
            return ActionResult(False, error="timeout"), []
        except Exception as exc:
            logger.info("action %s of %s raised", step.action_id, execution.id, exc_info=True)
            message = str(exc) or type(exc).__name__
            return ActionResult(False, error=message), []
        result = coerce_result(raw)
        rows = raw.rows if isinstance(raw, StoringResult) and result.success else ()
        return result, list(rows)

    def _unfinished(self) -> list[StepRun]:
        return [s for s in self.steps if s.status not in FINAL_STEP_STATUSES]

    async def _finish_cancelled(self) -> None:
        changes = [
            StepChange(s, StepStatus.CANCELLED if s is self.in_flight else StepStatus.SKIPPED)
            for s in self._unfinished()
        ]
        await self._commit(changes, Finish(ExecutionStatus.CANCELLED, CANCELLED_MESSAGE))

    async def _finish_timed_out(self) -> None:
        changes = [
            StepChange(s, StepStatus.FAILED, None, "timeout")
            if s is self.in_flight
            else StepChange(s, StepStatus.SKIPPED)
            for s in self._unfinished()
        ]
        await self._commit(changes, Finish(ExecutionStatus.FAILED, "timeout", "EXECUTION_FAILED"))
