"""When the weekly report is due: the publication moment after the week, the catch-up of missed weeks (pure)."""

from __future__ import annotations

from datetime import datetime

from services.departments.publishing import PublishSchedule, weeks_due
from services.departments.working_time import DISTRICT_TZ

MONDAY_6 = PublishSchedule()


def local(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=DISTRICT_TZ)


def test_a_week_is_published_on_the_following_monday_at_six_district_time():
    assert MONDAY_6.publish_at("2026-W50") == local("2026-12-14T06:00")
    assert MONDAY_6.last_closed_week(local("2026-12-14T06:00")) == "2026-W50"
    assert MONDAY_6.last_closed_week(local("2026-12-14T05:59")) == "2026-W49"


def test_the_moment_is_district_time_not_utc():
    # Monday 06:00 in Shanghai is Sunday 22:00 UTC: the week is closed by then, not eight hours later.
    assert MONDAY_6.last_closed_week(datetime.fromisoformat("2026-12-13T22:00+00:00")) == "2026-W50"
    assert MONDAY_6.last_closed_week(datetime.fromisoformat("2026-12-13T21:59+00:00")) == "2026-W49"


def test_the_weekday_and_hour_are_configurable():
    wednesday_9 = PublishSchedule(weekday=3, hour=9)
    assert wednesday_9.publish_at("2026-W50") == local("2026-12-16T09:00")
    assert wednesday_9.last_closed_week(local("2026-12-16T08:59")) == "2026-W49"
    sunday_23 = PublishSchedule(weekday=7, hour=23)  # the latest moment: still in the week after
    assert sunday_23.last_closed_week(local("2026-12-20T22:59")) == "2026-W49"
    assert sunday_23.last_closed_week(local("2026-12-20T23:00")) == "2026-W50"


def test_a_first_run_publishes_only_the_last_closed_week():
    assert weeks_due(None, local("2026-12-14T07:00"), MONDAY_6) == ["2026-W50"]


def test_weeks_missed_while_the_service_was_down_are_caught_up_oldest_first_across_the_new_year():
    assert weeks_due("2026-W51", local("2027-01-18T06:00"), MONDAY_6) == [
        "2026-W52",
        "2026-W53",
        "2027-W01",
        "2027-W02",
    ]


def test_nothing_is_due_once_the_last_closed_week_is_published_nor_before_the_moment():
    assert weeks_due("2026-W50", local("2026-12-20T23:00"), MONDAY_6) == []
    assert weeks_due("2026-W50", local("2026-12-21T05:59"), MONDAY_6) == []
    assert weeks_due("2026-W50", local("2026-12-21T06:00"), MONDAY_6) == ["2026-W51"]
