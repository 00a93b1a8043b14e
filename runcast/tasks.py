"""Cancelling safely: stopping background tasks for sure, and work a cancel cannot split."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, ParamSpec, TypeVar

logger = logging.getLogger("runcast")

RECANCEL_S = 0.1
T = TypeVar("T")
P = ParamSpec("P")


async def cancel_and_wait(
    tasks: Iterable[asyncio.Task[Any]], within_s: float
) -> set[asyncio.Task[Any]]:
    """Cancel `tasks` and wait until they end, for at most `within_s` seconds.

    A cancel can be lost: before Python 3.12, `asyncio.wait_for` (used by database and
    Redis drivers) swallows one that lands as its inner call completes, and a loop that
    lost it runs on. So every task still running is cancelled again every `RECANCEL_S`.
    Returns the tasks that did not end in time (logged), so shutdown never hangs on one.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    pending = {task for task in tasks if not task.done()}
    while pending and (remaining := deadline - loop.time()) > 0:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=min(remaining, RECANCEL_S))
    for task in pending:
        logger.warning("task %r did not stop within %.1f s", task.get_name(), within_s)
    return pending


async def run_to_end(awaitable: Awaitable[T]) -> T:
    """Await `awaitable` to its end even when the caller is cancelled meanwhile, then let
    the cancel through: a write and the in-memory state that mirrors it never part ways."""
    work = asyncio.ensure_future(awaitable)
    try:
        return await asyncio.shield(work)
    except asyncio.CancelledError:
        await asyncio.wait({work})
        if not work.cancelled():
            work.exception()  # retrieved; the cancel is what the caller sees
        raise


def runs_to_end(function: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
    """Decorate an async function so that every call of it goes through `run_to_end`."""

    @functools.wraps(function)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        return await run_to_end(function(*args, **kwargs))

    return wrapper
