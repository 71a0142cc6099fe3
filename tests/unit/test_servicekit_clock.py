"""The service kit's clocks: the system one, one that stands still, one shifted from the machine's time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from gridloop.servicekit.clock import SYSTEM_CLOCK, Clock, FixedClock, ShiftedClock

START = datetime(2026, 12, 8, 14, 0, tzinfo=UTC)  # 22:00 in Chengdu


def test_a_fixed_clock_stands_still_until_set_or_advanced() -> None:
    clock: Clock = FixedClock(START)
    assert clock.now() == clock.now() == START
    assert isinstance(clock, FixedClock)
    assert clock.advance(timedelta(minutes=91)) == START + timedelta(minutes=91) == clock.now()
    clock.set(START)
    assert clock.now() == START


def test_a_shifted_clock_starts_where_a_test_puts_it_and_time_flows_from_there() -> None:
    clock = ShiftedClock(START)
    first = clock.now()
    assert timedelta(0) <= first - START < timedelta(minutes=1)
    assert clock.now() >= first, "it flows with the machine's time"
    clock.advance(timedelta(days=7))
    assert clock.now() - first >= timedelta(days=7)


def test_the_system_clock_tells_aware_utc_time() -> None:
    assert SYSTEM_CLOCK.now().tzinfo is not None
    assert SYSTEM_CLOCK.now().utcoffset() == timedelta(0)
