"""The tick plan of one pass, on a clock the test sets: catch-up window, overlap policies,
the per-pass cap (see docs/triggers.md, "Schedules")."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from runcast.engine.schedules import MOST_TICKS_PER_PASS, plan
from runcast.models import Schedule

NOW = datetime(2026, 11, 30, 12, 0, 0, 400_000, tzinfo=UTC)


def schedule(overlap: str = "allow", window: int = 60, behind_s: int = 0, **fields) -> Schedule:
    return Schedule(
        workflow_id="wf_x",
        cron="* * * * * *",
        timezone="UTC",
        overlap=overlap,
        catchup_window_seconds=window,
        paused=False,
        next_tick_at=NOW.replace(microsecond=0) - timedelta(seconds=behind_s),
        **fields,
    )


def seconds_before_now(*offsets: int) -> list[datetime]:
    return [NOW.replace(microsecond=0) - timedelta(seconds=s) for s in offsets]


def test_ticks_within_the_window_start_and_older_ones_pass():
    decided = plan(schedule(window=3, behind_s=10), NOW, busy=False)  # NOW is :00.4
    assert decided.start == seconds_before_now(2, 1, 0)
    assert decided.next_tick_at == NOW.replace(microsecond=0) + timedelta(seconds=1)
    # A window of 0 catches nothing up, but a tick a pass reaches late still starts.
    assert plan(schedule(window=0, behind_s=10), NOW, busy=False).start == seconds_before_now(0)


def test_overlap_policies_while_a_run_is_under_way():
    assert plan(schedule("skip", behind_s=2), NOW, busy=True).start == []
    assert plan(schedule("skip", behind_s=2), NOW, busy=False).start == seconds_before_now(2)
    assert plan(schedule("allow", behind_s=2), NOW, busy=True).start == seconds_before_now(2, 1, 0)
    buffered = plan(schedule("buffer_one", behind_s=2), NOW, busy=True)
    assert (buffered.start, buffered.buffered_tick_at) == ([], seconds_before_now(2)[0])
    kept = seconds_before_now(30)[0]
    again = plan(schedule("buffer_one", behind_s=2, buffered_tick_at=kept), NOW, busy=True)
    assert (again.start, again.buffered_tick_at) == ([], kept)


def test_a_long_catch_up_goes_on_in_the_next_pass():
    decided = plan(schedule(window=3600, behind_s=3000), NOW, busy=False)
    assert len(decided.start) == MOST_TICKS_PER_PASS
    assert decided.next_tick_at == decided.start[-1] + timedelta(seconds=1)
