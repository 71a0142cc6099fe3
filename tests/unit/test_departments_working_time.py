"""Deadlines on the working calendar: mainland holidays and 调休 from chinesecalendar, a year's schedule entered by
an operator past the package's years, district days off, 24/7 items, and warnings at 75 % of working time."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from services.departments.sla import DeadlineState, due_steps
from services.departments.working_time import (
    DISTRICT_TZ,
    ROUND_THE_CLOCK,
    CalendarNotCovered,
    Deadlines,
    WorkingCalendar,
)

NATIONAL = WorkingCalendar()


def local(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=DISTRICT_TZ)


def hours(n: float) -> timedelta:
    return timedelta(hours=n)


def test_the_package_knows_spring_festival_2026_and_its_adjusted_saturday() -> None:
    assert NATIONAL.is_working_day(date(2026, 2, 14))  # a Saturday worked (调休) before the holiday
    assert not any(NATIONAL.is_working_day(date(2026, 2, d)) for d in range(15, 24))  # 2026-02-15..23 off
    assert NATIONAL.is_working_day(date(2026, 2, 24))


def test_a_deadline_runs_through_the_adjusted_saturday_and_stops_over_spring_festival() -> None:
    friday = local("2026-02-13T10:00")  # the Friday before the holiday
    assert NATIONAL.add(friday, hours(24)) == local("2026-02-14T10:00")  # sign for: the 调休 Saturday counts
    # resolve in 48 h of working time: 14 h on Friday, 24 h on the Saturday, nine days off, 10 h on 02-24
    assert NATIONAL.add(friday, hours(48)) == local("2026-02-24T10:00")
    assert NATIONAL.between(friday, local("2026-02-24T10:00")) == hours(48)


def test_an_ordinary_weekend_stops_the_clock() -> None:
    assert NATIONAL.add(local("2026-03-06T20:00"), hours(24)) == local("2026-03-09T20:00")  # Friday -> Monday


def test_the_national_day_adjusted_saturday_counts() -> None:
    # 2026-10-01..07 off, Saturday 10-10 worked, Sunday 10-11 off
    assert NATIONAL.add(local("2026-09-30T12:00"), hours(24)) == local("2026-10-08T12:00")
    assert NATIONAL.add(local("2026-10-09T12:00"), hours(24)) == local("2026-10-10T12:00")
    assert NATIONAL.add(local("2026-10-10T12:00"), hours(24)) == local("2026-10-12T12:00")


def test_past_the_package_years_a_deadline_counts_monday_to_friday_and_the_gap_is_reported() -> None:
    """A deadline is always computed (a dispatch that failed on it would reach nobody): Thursday 2026-12-31 noon
    plus a working day is Friday 2027-01-01 noon while 2027 is unknown (元旦 then counts as working: earlier,
    never later), and Friday noon plus a working day is Monday noon. The coverage says when the gap starts."""
    with pytest.raises(CalendarNotCovered, match="2027"):
        NATIONAL.known_working_day(date(2027, 1, 4))
    assert NATIONAL.add(local("2026-12-31T12:00"), hours(24)) == local("2027-01-01T12:00")
    assert NATIONAL.add(local("2027-01-08T12:00"), hours(24)) == local("2027-01-11T12:00")
    assert NATIONAL.covered_until(date(2026, 12, 8)) == date(2027, 1, 1)


# A 2027 schedule as an operator would enter it from the State Council's notice. The dates below are the test's own
# (Spring Festival 2027 is 02-06); the real notice decides the district's calendar.
SPRING_2027 = [date(2027, 2, d) for d in range(5, 14)]  # 02-05 (Fri) .. 02-13 (Sat) off
ADJUSTED_2027 = [date(2027, 1, 31), date(2027, 2, 20)]  # two Sundays/Saturdays worked
WITH_2027 = WorkingCalendar(
    national_years=frozenset({2027}),
    national={**dict.fromkeys(SPRING_2027, False), **dict.fromkeys(ADJUSTED_2027, True)},
)


def test_an_entered_2027_schedule_carries_deadlines_across_spring_festival_2027() -> None:
    assert WITH_2027.add(local("2027-02-04T12:00"), hours(24)) == local("2027-02-15T12:00")  # Thursday -> Monday
    assert WITH_2027.add(local("2027-01-29T18:00"), hours(24)) == local("2027-01-31T18:00")  # Friday -> 调休 Sunday
    assert WITH_2027.add(local("2027-02-19T18:00"), hours(12)) == local("2027-02-20T06:00")  # the worked Saturday
    assert not WITH_2027.is_working_day(date(2027, 2, 27))  # an ordinary Saturday of the entered year
    with pytest.raises(CalendarNotCovered, match="2028"):
        WITH_2027.known_working_day(date(2028, 1, 3))


def test_a_district_day_off_moves_the_deadline_and_an_extra_working_day_counts() -> None:
    district = WorkingCalendar(district={date(2026, 2, 24): False, date(2026, 2, 22): True})
    friday = local("2026-02-13T10:00")
    # 14 h Friday + 24 h Saturday + 24 h on Sunday 02-22 (district working day) = 62 h; 02-24 off; 02-25
    assert district.add(friday, hours(48)) == local("2026-02-22T10:00")
    assert district.add(local("2026-02-23T08:00"), hours(4)) == local("2026-02-25T04:00")


def test_urgent_personal_risks_stay_on_calendar_hours() -> None:
    deadlines = Deadlines()
    for item in ("P05", "P06", "P10", "S25"):
        assert deadlines.timeline(item) is ROUND_THE_CLOCK
    assert deadlines.timeline("S02") is deadlines.calendar
    assert Deadlines(working=False).timeline("S02") is ROUND_THE_CLOCK
    assert ROUND_THE_CLOCK.add(local("2026-02-15T10:00"), hours(6)) == local("2026-02-15T16:00")  # holiday or not


def test_warning_at_75_percent_and_breach_at_100_percent_of_working_time_across_the_holiday() -> None:
    start = local("2026-02-13T10:00")
    window = hours(48)
    state = DeadlineState(rung=0, rung_started_at=start, deadline=NATIONAL.add(start, window), window=window)
    # 75 % of 48 working hours = 36 h: 14 h on Friday + 22 h on the 调休 Saturday
    assert due_steps(state, local("2026-02-14T21:59"), NATIONAL)[0] == []
    steps, state = due_steps(state, local("2026-02-14T22:00"), NATIONAL)
    assert [s.kind for s in steps] == ["sla_warning"]
    assert due_steps(state, local("2026-02-24T09:59"), NATIONAL)[0] == []  # the holiday does not count
    steps, state = due_steps(state, local("2026-02-24T10:00"), NATIONAL)
    assert [s.kind for s in steps] == ["sla_breached", "escalated"]
    assert state.deadline == local("2026-02-25T10:00")  # the next rung: half the window, 24 working hours
