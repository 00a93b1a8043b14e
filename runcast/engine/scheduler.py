"""The engine: bounded concurrency, claiming, leases, cancellation and recovery.

A dispatcher claims runnable executions in creation order, as many as there are free slots
(`max_concurrent_executions`), so the rest stay PENDING in order. It wakes when an execution
is submitted or a slot frees, and polls every `poll_seconds` for work that other nodes
queued or left behind. A heartbeat renews this node's leases, stops executions whose lease
another node took, and honours cancel flags set through other nodes.

Requests hand the engine new executions (`submit`) and cancels (`cancel`): the start
protocol (run here or queue, the lease and fencing token) and the cancel rule live here.
Executions under a workflow's concurrency cap (`flow_control`) always queue and are
claimed apart, only while their key has a free place.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from copy import copy
from dataclasses import dataclass, field
from datetime import timedelta

from runcast.domain.clock import utcnow
from runcast.domain.enums import (
    FINAL_EXECUTION_STATUSES,
    ExecutionStatus,
    StepStatus,
)
from runcast.domain.events import status_change
from runcast.engine.http_guard import HttpPolicy
from runcast.engine.persistence import (
    Finish,
    Recorder,
    StaleExecution,
    StepChange,
    Transition,
    begun_with_request,
)
from runcast.engine.runner import CANCELLED_MESSAGE, ExecutionRunner
from runcast.events.bus import CONTROL_CHANNEL, EventBus
from runcast.events.hub import Hub
from runcast.models import Execution, StepRun
from runcast.settings import Settings
from runcast.store.interface import Claim, ExecutionStore, Guard
from runcast.tasks import cancel_and_wait, runs_to_end

logger = logging.getLogger("runcast.engine")

CANCEL_WAIT_S = 5.0
FINISH_POLL_S = 0.2
SHUTDOWN_WAIT_S = 5.0
REAP_GRACE = timedelta(seconds=5)


@dataclass
class _Waiters:
    """Requests waiting for one execution to finish."""

    event: asyncio.Event = field(default_factory=asyncio.Event)
    count: int = 0
    runner: ExecutionRunner | None = None


class Engine:
    """Runs executions as named asyncio tasks that it owns and cancels on shutdown.

    It is given what it works with: the store (its only way to the database), the bus it
    publishes on, the hub it listens to other nodes through, and the outbound HTTP client
    its actions use."""

    def __init__(
        self, settings: Settings, store: ExecutionStore, bus: EventBus, hub: Hub, http: HttpPolicy
    ) -> None:
        self.settings = settings
        self.store = store
        self.bus = bus
        self.recorder = Recorder(store, bus)
        self.http = http
        self.hub = hub
        self.node_id = settings.node_id
        self.lease = timedelta(seconds=settings.lease_seconds)
        self._wake = asyncio.Event()
        self._running: dict[str, tuple[asyncio.Task[None], ExecutionRunner]] = {}
        self._waiters: dict[str, _Waiters] = {}
        self._cancel_on_start: set[str] = set()
        self._loops: list[asyncio.Task[None]] = []
        self._reserved = 0
        self._stopping = False
        """Set as shutdown begins (`stop_starting`): nothing new starts here."""
        self._backlog = True
        self._capped_due = True
        """Whether capped executions may be claimable: one was queued or finished here,
        the last capped claim took some, or the poll came round (other nodes' work)."""
        self.on_finished: Callable[[Execution], None] | None = None
        """Called with each execution that reaches a final state on this node (built-in
        execution events, see runcast/resolvers/events.py); it must not block."""

    @property
    def running_count(self) -> int:
        return len(self._running)

    def _free_slots(self) -> int:
        if self._stopping:
            return 0
        return self.settings.max_concurrent_executions - len(self._running) - self._reserved

    @runs_to_end
    async def submit(
        self, execution: Execution, steps: list[StepRun]
    ) -> tuple[Execution, list[StepRun]]:
        """Store a new execution and its steps, announce it, and start it.

        When this node has a free slot and knows of no queued work (executions still start
        in creation order), the row is stored RUNNING with its first step started, this
        node's lease and fencing token 1, so no other node claims it, and runs here at once
        (its runner announces it RUNNING); otherwise it is stored PENDING, announced, and
        the dispatcher claims it in turn. A caller that goes away meanwhile does not leave
        it stored but unstarted. Returns copies of the execution and its steps as stored:
        the originals now belong to the engine, which changes them as the execution runs.
        """
        run_here = execution.concurrency_limit is None and self._reserve()
        first = None
        if run_here:
            execution.lease_owner = self.node_id
            execution.lease_expires_at = utcnow() + self.lease
            execution.fencing_token = 1
            first = begun_with_request(execution, steps)
        try:
            await self.store.insert(execution, steps)
        except BaseException:
            if run_here:
                self._unreserve()
            raise
        stored = copy(execution), [copy(step) for step in steps]
        if run_here:
            self._adopt(execution, steps, first)
        else:
            await self.bus.publish_status(execution.workspace_id, status_change(execution))
            self._queued(capped=execution.concurrency_limit is not None)
        return stored

    async def store_refused(
        self, execution: Execution, steps: list[StepRun], error: str
    ) -> tuple[Execution, list[StepRun]]:
        """Store a new execution that is not to run as already FAILED with `error`, every
        step skipped, and announce it. It never runs, so `on_finished` is not called.
        Returns copies as stored, like `submit`."""
        execution.status = ExecutionStatus.FAILED
        execution.error = error
        execution.error_code = "EXECUTION_FAILED"
        execution.completed_at = utcnow()
        execution.duration_ms = 0
        for step in steps:
            step.status = StepStatus.SKIPPED
        await self.store.insert(execution, steps)
        await self.bus.publish_status(execution.workspace_id, status_change(execution))
        return copy(execution), [copy(step) for step in steps]

    @runs_to_end
    async def submit_many(self, batch: list[tuple[Execution, list[StepRun]]]) -> None:
        """Store many new PENDING executions and their steps in one write, announce each
        one stored and queue them all: the dispatcher claims them in creation order as
        slots free (an execution under a concurrency cap queues whichever way it starts).
        An execution whose idempotency key is taken already is left out and the others
        are stored."""
        stored = await self.store.insert_many(batch)
        new = [execution for execution, _ in batch if execution.id in stored]
        for capped in {execution.concurrency_limit is not None for execution in new}:
            self._queued(capped)  # before the announcements: a failed one must not hide them
        for execution in new:
            await self.bus.publish_status(execution.workspace_id, status_change(execution))

    def _reserve(self) -> bool:
        """Reserve a slot for an execution about to be stored, so this node runs it straight
        away; the caller must `_adopt` the execution or `_unreserve`."""
        if self._backlog or self._free_slots() <= 0:
            return False
        self._reserved += 1
        return True

    def _unreserve(self) -> None:
        self._reserved -= 1
        self._wake.set()

    def _adopt(self, execution: Execution, steps: list[StepRun], first: StepRun | None) -> None:
        """Run an execution stored RUNNING with this node's lease and its `first` step
        started (see `_reserve`); its runner announces it."""
        self._reserved -= 1
        if execution.id in self._cancel_on_start:  # cancelled between its insert and now
            execution.cancel_requested = True
        self._launch(ExecutionRunner(self, execution, steps, execution.fencing_token, first))

    def _queued(self, capped: bool) -> None:
        """An execution was stored PENDING for the dispatcher to claim."""
        if capped:
            self._capped_due = True
        else:
            self._backlog = True
        self._wake.set()

    async def start(self, embedded: bool) -> None:
        """Start the dispatcher and heartbeat; pick up work left by a previous process."""
        if embedded:
            # One node owns an embedded database: any lease was left by a crash.
            await self.store.release_leases()
        self._loops = [
            asyncio.create_task(self._dispatch_loop(), name="engine dispatcher"),
            asyncio.create_task(self._heartbeat_loop(), name="engine heartbeat"),
            asyncio.create_task(self._control_loop(), name="engine control listener"),
        ]

    def stop_starting(self) -> None:
        """The first step of shutdown: from now on nothing new starts on this node. A
        `submit` only stores its execution PENDING for another node (or the next start)
        to claim, and the dispatcher claims nothing; running executions go on."""
        self._stopping = True

    async def stop(self) -> None:
        """Stop taking work (`stop_starting`) and interrupt running executions without
        finishing them: they stay RUNNING and are resumed by the next node to claim them."""
        self.stop_starting()
        running = [task for task, _ in self._running.values()]
        for task in running:
            task.cancel()
        await cancel_and_wait(self._loops, SHUTDOWN_WAIT_S)
        if running:
            await asyncio.wait(running, timeout=SHUTDOWN_WAIT_S)
        self._loops.clear()

    async def wait_finished(self, execution_id: str, within_s: float) -> ExecutionRunner | None:
        """Wait until the execution reached a final state, or for `within_s` seconds.

        Returns the runner when the execution finished on this node while waiting (its
        execution and steps are current in memory); None otherwise.
        """
        waiters = self._waiters.setdefault(execution_id, _Waiters())
        waiters.count += 1
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within_s
        try:
            while (remaining := deadline - loop.time()) > 0:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(min(remaining, FINISH_POLL_S)):
                        await waiters.event.wait()
                if waiters.event.is_set():
                    return waiters.runner
                status = await self.store.status_of(execution_id)
                if status is None or status in FINAL_EXECUTION_STATUSES:
                    return None
            return None
        finally:
            waiters.count -= 1
            if waiters.count == 0:
                self._waiters.pop(execution_id, None)

    def interrupt(self, execution_id: str) -> asyncio.Task[None] | None:
        """Cancel the execution's task if it runs here; it records CANCELLED itself."""
        entry = self._running.get(execution_id)
        if entry is None:
            return None
        task, runner = entry
        if not runner.cancel_requested:
            runner.cancel_requested = True
            # A task that has not begun yet sees the flag when it starts; cancelling it now
            # would drop it before it could record anything.
            if runner.started:
                task.cancel()
        return task

    async def cancel(self, execution: Execution) -> None:
        """Cancel a PENDING or RUNNING execution (the one place of the cancel rule).

        The database flag is set first: every node honours it (a runner checks it as it
        starts, heartbeats re-read it). A PENDING execution is then finished CANCELLED at
        once, by a commit guarded on its status; one that runs (or was claimed meanwhile)
        is interrupted here or through the control channel, and this waits (briefly) until
        it has recorded CANCELLED. The caller reads back what was stored.
        """
        await self.store.request_cancel(execution.id)
        if execution.status == ExecutionStatus.PENDING and await self._cancel_pending(execution):
            return
        await self._interrupt_and_wait(execution.id)

    async def _cancel_pending(self, execution: Execution) -> bool:
        """Finish a PENDING execution CANCELLED, its steps skipped; False when it has
        started (or finished) meanwhile."""
        steps = await self.store.steps_of(execution.id)
        changes = [StepChange(step, StepStatus.SKIPPED) for step in steps]
        finish = Finish(ExecutionStatus.CANCELLED, CANCELLED_MESSAGE)
        guard = Guard(status=ExecutionStatus.PENDING)
        try:
            await self.recorder.commit(execution, steps, Transition(changes, finish), guard)
        except StaleExecution:
            return False
        self.mark_finished(execution.id)
        self._ended(execution)
        return True

    async def _interrupt_and_wait(self, execution_id: str) -> None:
        """Interrupt the execution and wait (briefly) until it has recorded CANCELLED: one
        being claimed right now is cancelled as it starts, one on another node at once
        through the control channel (or at its next heartbeat)."""
        if self.interrupt(execution_id) is None:
            self._cancel_on_start.add(execution_id)
            await self.bus.publish_control({"cancel": execution_id})
        await self.wait_finished(execution_id, CANCEL_WAIT_S)
        self._cancel_on_start.discard(execution_id)

    def _ended(self, execution: Execution) -> None:
        """Tell `on_finished` about an execution that reached a final state here."""
        if self.on_finished is None or execution.status not in FINAL_EXECUTION_STATUSES:
            return
        try:
            self.on_finished(execution)
        except Exception:
            logger.exception("on_finished failed for execution %s", execution.id)

    def mark_finished(self, execution_id: str, runner: ExecutionRunner | None = None) -> None:
        """Wake whoever waits for this execution to finish."""
        waiters = self._waiters.get(execution_id)
        if waiters is not None:
            waiters.runner = runner
            waiters.event.set()

    async def _dispatch_loop(self) -> None:
        while True:
            self._wake.clear()
            free = self._free_slots()
            if free <= 0:
                self._backlog = True
            else:
                try:
                    claimed = await self.store.claim(self.node_id, free, utcnow(), self.lease)
                    if len(claimed) < free and self._capped_due:
                        capped = await self.store.claim_capped(
                            self.node_id, free - len(claimed), utcnow(), self.lease
                        )
                        self._capped_due = bool(capped)
                        claimed += capped
                    await self._start(claimed)
                except Exception:
                    logger.exception("claiming executions failed")
                    claimed = []
                self._backlog = len(claimed) == free
                if self._backlog:
                    continue
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.settings.poll_seconds):
                    await self._wake.wait()
            if not self._wake.is_set():
                self._capped_due = True

    async def _start(self, claimed: list[Claim]) -> None:
        if not claimed:
            return
        ids = [claim.execution_id for claim in claimed]
        loaded = {pair[0].id: pair for pair in await self.store.load(ids)}
        for claim in claimed:
            execution, steps = loaded[claim.execution_id]
            if claim.execution_id in self._cancel_on_start:
                execution.cancel_requested = True
            self._launch(ExecutionRunner(self, execution, steps, claim.fencing_token))

    def _launch(self, runner: ExecutionRunner) -> None:
        execution_id = runner.execution.id
        task = asyncio.create_task(self._run(runner), name=f"execution {execution_id}")
        self._running[execution_id] = (task, runner)

    async def _run(self, runner: ExecutionRunner) -> None:
        execution_id = runner.execution.id
        try:
            await runner.run()
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("execution %s stopped on an engine error", execution_id)
        finally:
            self._running.pop(execution_id, None)
            if runner.execution.concurrency_limit is not None:
                self._capped_due = True
            self._wake.set()
            if runner.execution.status in FINAL_EXECUTION_STATUSES:
                self.mark_finished(execution_id, runner)
                self._ended(runner.execution)

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.heartbeat_seconds)
            try:
                await self._heartbeat()
            except Exception:
                logger.exception("heartbeat failed")

    async def _heartbeat(self) -> None:
        """Renew our leases; stop runs whose lease another node took; honour cancel flags;
        reap runs that outlived their workflow timeout."""
        ids = list(self._running)
        if ids:
            await self.store.renew_leases(ids, self.node_id, utcnow() + self.lease)
            await self._check_flags(ids)
        await self._reap_overdue()

    async def _check_flags(self, ids: list[str]) -> None:
        """Stop runs whose lease another node took; interrupt runs flagged for cancel."""
        for state in await self.store.lease_states(ids):
            if state.lease_owner != self.node_id and state.execution_id in self._running:
                task, _ = self._running[state.execution_id]
                task.cancel()
            elif state.cancel_requested:
                self.interrupt(state.execution_id)

    async def _control_loop(self) -> None:
        """Cancel requests from other nodes; after lost messages, re-read the flags."""
        async with self.hub.subscribe(CONTROL_CHANNEL) as subscription:
            while True:
                message = await subscription.receive(idle_s=None)
                try:
                    if subscription.take_missed() and self._running:
                        await self._check_flags(list(self._running))
                except Exception:
                    logger.exception("re-reading cancel flags failed")
                if message is None:
                    continue
                try:
                    execution_id = json.loads(message).get("cancel")
                except (ValueError, AttributeError):
                    continue
                if isinstance(execution_id, str):
                    self.interrupt(execution_id)

    async def _reap_overdue(self) -> None:
        now = utcnow()
        for execution_id, (task, runner) in list(self._running.items()):
            deadline = runner.deadline()
            if deadline is None or now < deadline + REAP_GRACE:
                continue
            logger.warning("execution %s outlived its timeout; reaping it", execution_id)
            try:
                await runner.reap()
            except Exception:
                logger.exception("reaping execution %s failed", execution_id)
            task.cancel()
            self._running.pop(execution_id, None)
            self._wake.set()
            self.mark_finished(execution_id)
            self._ended(runner.execution)
