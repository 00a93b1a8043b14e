"""The tick plan of one pass, on a clock the test sets: catch-up window, overlap policies,
the per-pass cap (see docs/triggers.md, "Schedules")."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from runcast.engine.schedules import MOST_TICKS_PER_PASS, plan, ticks_after
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


def test_a_catch_up_through_the_repeated_hour_follows_croniter():
    """The first next tick is shared between schedules (kept per cron, zone and tick); the
    ticks after it still come from one croniter walk, as `ticks_after` gives them: 02:00 to
    02:40 in Berlin, in both occurrences of the hour on the night the clocks go back."""
    berlin = Schedule(
        workflow_id="wf_x",
        cron="*/20 2 * * *",
        timezone="Europe/Berlin",
        overlap="allow",
        catchup_window_seconds=86_400,
        paused=False,
        next_tick_at=datetime(2026, 10, 25, 0, 0, tzinfo=UTC),
    )
    now = datetime(2026, 10, 25, 3, 0, tzinfo=UTC)
    walk = ticks_after(berlin.cron, berlin.timezone, berlin.next_tick_at)

    decided = plan(berlin, now, busy=False)

    assert decided.start == [
        datetime(2026, 10, 25, hour, minute, tzinfo=UTC)
        for hour in (0, 1)
        for minute in (0, 20, 40)
    ]
    assert decided.start[1:] == [next(walk) for _ in range(5)]
    assert decided.next_tick_at == next(walk) == datetime(2026, 10, 26, 1, 0, tzinfo=UTC)
    assert plan(berlin, now, busy=False) == decided  # the kept first step agrees
