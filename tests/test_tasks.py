"""Stopping background tasks: a lost cancel must not hang shutdown."""

from __future__ import annotations

import asyncio

import pytest

from runcast.tasks import cancel_and_wait, run_to_end


async def _swallows_first_cancel(stopped: list[str]) -> None:
    """A loop like one whose driver call swallowed a cancel (wait_for before 3.12)."""
    swallowed = False
    try:
        while True:
            try:
                await asyncio.sleep(1)
            except asyncio.CancelledError:
                if swallowed:
                    raise
                swallowed = True
    finally:
        stopped.append("loop")


async def test_a_task_that_swallowed_a_cancel_is_cancelled_again() -> None:
    stopped: list[str] = []
    task = asyncio.create_task(_swallows_first_cancel(stopped))
    await asyncio.sleep(0)
    left = await cancel_and_wait([task], within_s=2)
    assert left == set()
    assert task.cancelled()
    assert stopped == ["loop"]


async def test_a_task_that_ignores_every_cancel_is_given_up_on_in_time() -> None:
    release = asyncio.Event()

    async def stubborn() -> None:
        while not release.is_set():
            try:
                await asyncio.sleep(1)
            except asyncio.CancelledError:
                continue

    task = asyncio.create_task(stubborn())
    await asyncio.sleep(0)
    loop = asyncio.get_running_loop()
    began = loop.time()
    left = await cancel_and_wait([task], within_s=0.3)
    assert left == {task}
    assert loop.time() - began < 1
    release.set()
    task.cancel()
    await asyncio.wait({task})


async def test_a_cancelled_caller_waits_for_the_work_it_started_then_sees_the_cancel() -> None:
    steps: list[str] = []

    async def write() -> str:
        steps.append("begun")
        await asyncio.sleep(0.2)
        steps.append("stored")
        return "done"

    caller = asyncio.create_task(run_to_end(write()))
    await asyncio.sleep(0.05)
    caller.cancel()
    await asyncio.sleep(0.05)
    assert not caller.done()  # still waiting for the write
    with pytest.raises(asyncio.CancelledError):
        await caller
    assert steps == ["begun", "stored"]
