"""The suite's own clock switch (GRIDLOOP_TEST_LOCAL_TIME): it only ever moves the wall clock back."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.conftest import CHENGDU, latest_local


@pytest.mark.parametrize("hhmm", ["07:59", "08:00", "21:59", "22:00", "00:00"])
@pytest.mark.parametrize("now", [datetime(2026, 12, 8, 0, 30, tzinfo=UTC), datetime(2026, 12, 8, 15, 0, tzinfo=UTC)])
def test_the_pinned_moment_shows_that_time_in_chengdu_within_the_last_day(hhmm: str, now: datetime) -> None:
    moment = latest_local(hhmm, now)
    assert moment.astimezone(CHENGDU).strftime("%H:%M") == hhmm
    assert 0 <= (now - moment).total_seconds() < 24 * 3600


def test_a_time_that_has_not_come_yet_today_is_taken_from_yesterday() -> None:
    now = datetime(2026, 12, 8, 0, 30, tzinfo=UTC)  # 08:30 in Chengdu
    assert latest_local("22:00", now) == datetime(2026, 12, 7, 22, 0, tzinfo=CHENGDU)
    assert latest_local("08:00", now) == datetime(2026, 12, 8, 8, 0, tzinfo=CHENGDU)
