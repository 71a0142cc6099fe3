"""Quiet hours: non-urgent SMS wait from 22:00 until 08:00 Beijing time."""

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest

from services.notify.worker import backoff, quiet_until

SHANGHAI = ZoneInfo("Asia/Shanghai")


def _until(local: datetime) -> datetime | None:
    return quiet_until(local.replace(tzinfo=SHANGHAI), start=time(22), end=time(8), tz=SHANGHAI)


def test_late_evening_waits_for_the_next_morning() -> None:
    assert _until(datetime(2026, 11, 25, 23, 30)) == datetime(2026, 11, 26, 8, 0, tzinfo=SHANGHAI)


def test_small_hours_wait_for_the_same_morning() -> None:
    assert _until(datetime(2026, 11, 26, 3, 0)) == datetime(2026, 11, 26, 8, 0, tzinfo=SHANGHAI)


@pytest.mark.parametrize("hour, minute", [(8, 0), (12, 0), (21, 59)])
def test_daytime_is_not_quiet(hour: int, minute: int) -> None:
    assert _until(datetime(2026, 11, 25, hour, minute)) is None


def test_window_starts_at_22_sharp() -> None:
    assert _until(datetime(2026, 11, 25, 22, 0)) == datetime(2026, 11, 26, 8, 0, tzinfo=SHANGHAI)


def test_quiet_hours_are_judged_in_local_time_whatever_the_clock_zone() -> None:
    utc_evening = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)  # 23:00 in Chengdu
    until = quiet_until(utc_evening, start=time(22), end=time(8), tz=SHANGHAI)
    assert until == datetime(2026, 11, 26, 0, 0, tzinfo=UTC)


def test_a_daytime_window_that_does_not_span_midnight() -> None:
    inside = quiet_until(datetime(2026, 11, 25, 13, 0, tzinfo=SHANGHAI), start=time(12), end=time(14), tz=SHANGHAI)
    assert inside == datetime(2026, 11, 25, 14, 0, tzinfo=SHANGHAI)
    assert (
        quiet_until(datetime(2026, 11, 25, 15, 0, tzinfo=SHANGHAI), start=time(12), end=time(14), tz=SHANGHAI) is None
    )


def test_retry_backoff_doubles_and_is_capped() -> None:
    delays = [backoff(n, base=1, cap=30).total_seconds() for n in range(1, 8)]
    assert delays == [1, 2, 4, 8, 16, 30, 30]
