"""The engine: bounded concurrency, claiming, leases, cancellation and recovery.

Executions wait in a FIFO queue until a slot is free; a slot is taken before the
execution is claimed, so at most `max_concurrent_executions` are RUNNING on a node.
Claiming is a conditional UPDATE (PENDING, or RUNNING with an expired lease) that bumps
the fencing token; only the holder of the current token can write step results.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta

from tortoise.expressions import F, Q

from runcast.engine.http_guard import HttpPolicy
from runcast.engine.persistence import utcnow
from runcast.engine.runner import ExecutionRunner
from runcast.events.bus import EventBus
from runcast.models import Execution, StepRun
from runcast.resolvers.execution_views import FINAL_EXECUTION_STATUSES
from runcast.settings import Settings

logger = logging.getLogger("runcast.engine")

CANCEL_WAIT_S = 5.0


class Engine:
    """Runs executions as named asyncio tasks that it owns and cancels on shutdown."""

    def __init__(self, settings: Settings, bus: EventBus, http: HttpPolicy) -> None:
        self.settings = settings
        self.bus = bus
        self.http = http
        self.node_id = settings.node_id
        self.lease = timedelta(seconds=settings.lease_seconds)
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._queued: set[str] = set()
        self._slots = asyncio.Semaphore(settings.max_concurrent_executions)
        self._running: dict[str, tuple[asyncio.Task[None], ExecutionRunner]] = {}
        self._finished: dict[str, asyncio.Event] = {}
        self._cancel_on_start: set[str] = set()
        self._loops: list[asyncio.Task[None]] = []

    @property
    def running_count(self) -> int:
        return len(self._running)

    async def start(self, embedded: bool) -> None:
        """Start the dispatcher and heartbeat; pick up work left by a previous process."""
        if embedded:
            # One node owns an embedded database: whatever is RUNNING was left by a crash.
            await Execution.filter(status="RUNNING").update(lease_expires_at=None)
        await self._enqueue_claimable()
        self._loops = [
            asyncio.create_task(self._dispatch_loop(), name="engine dispatcher"),
            asyncio.create_task(self._heartbeat_loop(), name="engine heartbeat"),
        ]

    async def stop(self) -> None:
        """Stop taking work and interrupt running executions without finishing them:
        they stay RUNNING and are resumed by the next node to claim them."""
        for task in self._loops:
            task.cancel()
        running = [task for task, _ in self._running.values()]
        for task in running:
            task.cancel()
        await asyncio.gather(*self._loops, *running, return_exceptions=True)
        self._loops.clear()

    def submit(self, execution_id: str) -> None:
        """Queue an execution to run when a slot is free."""
        self._finished.setdefault(execution_id, asyncio.Event())
        if execution_id not in self._queued and execution_id not in self._running:
            self._queued.add(execution_id)
            self._queue.put_nowait(execution_id)

    async def wait_finished(self, execution_id: str, within_s: float) -> None:
        """Return when the execution reached a final state, or after `within_s` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within_s
        while (remaining := deadline - loop.time()) > 0:
            status = await Execution.filter(id=execution_id).values_list("status", flat=True)
            if not status or status[0] in FINAL_EXECUTION_STATUSES:
                return
            event = self._finished.setdefault(execution_id, asyncio.Event())
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(remaining, 1.0)):
                    await event.wait()

    def interrupt(self, execution_id: str) -> asyncio.Task[None] | None:
        """Cancel the execution's task if it runs here; it records CANCELLED itself."""
        entry = self._running.get(execution_id)
        if entry is None:
            return None
        task, runner = entry
        if not runner.cancel_requested:
            runner.cancel_requested = True
            task.cancel()
        return task

    async def cancel(self, execution_id: str) -> None:
        """Interrupt the execution and wait (briefly) until it has recorded CANCELLED.

        The database flag is already set; an execution that is being claimed right now
        is cancelled as it starts, one on another node at its next heartbeat.
        """
        task = self.interrupt(execution_id)
        if task is None:
            self._cancel_on_start.add(execution_id)
        await self.wait_finished(execution_id, CANCEL_WAIT_S)
        self._cancel_on_start.discard(execution_id)

    def mark_finished(self, execution_id: str) -> None:
        event = self._finished.pop(execution_id, None)
        if event is not None:
            event.set()

    async def _claim(self, execution_id: str) -> int | None:
        now = utcnow()
        claimable = Q(status="PENDING") | Q(
            Q(status="RUNNING") & (Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now))
        )
        claimed = await Execution.filter(Q(id=execution_id) & claimable).update(
            status="RUNNING",
            lease_owner=self.node_id,
            lease_expires_at=now + self.lease,
            fencing_token=F("fencing_token") + 1,
        )
        if claimed != 1:
            return None
        tokens = await Execution.filter(id=execution_id).values_list("fencing_token", flat=True)
        return int(tokens[0]) if tokens else None

    async def _dispatch_loop(self) -> None:
        while True:
            execution_id = await self._queue.get()
            await self._slots.acquire()
            self._queued.discard(execution_id)
            try:
                started = await self._start(execution_id)
            except Exception:
                logger.exception("could not start execution %s", execution_id)
                started = False
            if not started:
                self._slots.release()

    async def _start(self, execution_id: str) -> bool:
        token = await self._claim(execution_id)
        if token is None:
            self.mark_finished(execution_id)
            return False
        execution = await Execution.get(id=execution_id)
        steps = await StepRun.filter(execution_id=execution_id).order_by("position")
        runner = ExecutionRunner(self, execution, list(steps), token)
        if execution_id in self._cancel_on_start:
            execution.cancel_requested = True
        task = asyncio.create_task(self._run(runner), name=f"execution {execution_id}")
        self._running[execution_id] = (task, runner)
        return True

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
            self._slots.release()
            if runner.execution.status in FINAL_EXECUTION_STATUSES:
                self.mark_finished(execution_id)

    async def _enqueue_claimable(self) -> None:
        now = utcnow()
        rows = (
            await Execution.filter(
                Q(status="PENDING")
                | Q(
                    Q(status="RUNNING")
                    & (Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now))
                )
            )
            .order_by("created_at")
            .limit(1000)
            .values_list("id", flat=True)
        )
        for execution_id in rows:
            self.submit(str(execution_id))

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.heartbeat_seconds)
            try:
                await self._heartbeat()
            except Exception:
                logger.exception("heartbeat failed")

    async def _heartbeat(self) -> None:
        """Renew our leases, honour cancel flags set elsewhere, pick up orphaned work."""
        ids = list(self._running)
        if ids:
            await Execution.filter(id__in=ids, lease_owner=self.node_id).update(
                lease_expires_at=utcnow() + self.lease
            )
            flagged = await Execution.filter(id__in=ids, cancel_requested=True).values_list(
                "id", flat=True
            )
            for execution_id in flagged:
                self.interrupt(str(execution_id))
        await self._enqueue_claimable()
