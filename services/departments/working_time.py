"""Deadlines on the working calendar: sign-for and resolution windows run on working days only (mainland China's
weekends, public holidays and adjusted working days 调休, from PyPI `chinesecalendar`), with the district's own
days off (and extra working days) on top; some items stay on calendar hours, 24/7 (settings).

A working day counts in full (00:00-24:00 Asia/Shanghai); a day off stops the clock. Past the years the package
knows (1.11.0: 2004-2026) a day is known only if an operator entered that year's State Council schedule
(`calendar_years` + national rows of `calendar_days`); otherwise deadlines count Monday to Friday as working days
(logged once per year) — a deadline is always computed, never a failed dispatch — and
`gridloop_working_calendar_covered_days` falls towards 0 beforehand so that operators enter the year in time.
"""

from __future__ import annotations

import logging
import time as monotonic
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

import chinese_calendar
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from services.departments import metrics
from services.departments.tables import calendar_days, calendar_years

log = logging.getLogger(__name__)
DISTRICT_TZ = ZoneInfo("Asia/Shanghai")
HORIZON_DAYS = 400  # no window is longer than this: a longer search means the calendar has no working days
DEFAULT_ROUND_THE_CLOCK = frozenset({"P05", "P06", "P10", "S25"})  # 纠纷激化, 家暴, 走失, 燃气: never wait for Monday


class CalendarNotCovered(LookupError):
    """A deadline needs a day the calendar does not know: enter that year's national schedule."""


class Timeline(Protocol):
    """How a deadline window runs: `add` a window of working time to a moment, measure the time `between` two."""

    def add(self, start: datetime, window: timedelta) -> datetime: ...

    def between(self, start: datetime, end: datetime) -> timedelta: ...


class RoundTheClock:
    """Calendar hours, 24/7."""

    def add(self, start: datetime, window: timedelta) -> datetime:
        return start + window

    def between(self, start: datetime, end: datetime) -> timedelta:
        return end - start


ROUND_THE_CLOCK = RoundTheClock()


@dataclass(frozen=True)
class WorkingCalendar:
    """Working days: the district's overrides first, then a national schedule an operator entered for the year, then
    the `chinesecalendar` package."""

    district: Mapping[date, bool] = field(default_factory=dict)  # day -> working (False: a local day off)
    national_years: frozenset[int] = frozenset()
    national: Mapping[date, bool] = field(default_factory=dict)  # entered years: holidays (False), 调休 (True)

    def is_working_day(self, day: date) -> bool:
        """Past what the calendar knows, Monday to Friday: a deadline must always be computable (a case whose
        dispatch failed on it would reach nobody), and one that ignores an unknown holiday is earlier, never later.
        `covered_until` and its gauge tell operators to enter the year's schedule before that happens."""
        try:
            return self.known_working_day(day)
        except CalendarNotCovered:
            _warn_provisional(day.year)
            return day.weekday() < 5

    def known_working_day(self, day: date) -> bool:
        if day in self.district:
            return self.district[day]
        if day.year in self.national_years:
            return self.national.get(day, day.weekday() < 5)
        try:
            return chinese_calendar.is_workday(day)
        except NotImplementedError:
            raise CalendarNotCovered(
                f"the working calendar does not know {day.isoformat()}: chinesecalendar {_package_years()} covers "
                f"no further; enter the State Council's {day.year} schedule (PUT /v1/calendar/national/{day.year})"
            ) from None

    def add(self, start: datetime, window: timedelta) -> datetime:
        remaining, at = window, start
        for _ in range(HORIZON_DAYS + int(window.days)):
            if remaining <= timedelta(0):
                return at
            local = at.astimezone(DISTRICT_TZ)
            day_end = datetime.combine(local.date() + timedelta(days=1), time(0), DISTRICT_TZ)
            if self.is_working_day(local.date()):
                span = day_end - at
                if remaining <= span:
                    return at + remaining
                remaining -= span
            at = day_end
        raise CalendarNotCovered(f"no working time for {window} from {start.isoformat()} within {HORIZON_DAYS} days")

    def between(self, start: datetime, end: datetime) -> timedelta:
        total, at = timedelta(0), start
        while at < end:
            local = at.astimezone(DISTRICT_TZ)
            day_end = min(datetime.combine(local.date() + timedelta(days=1), time(0), DISTRICT_TZ), end)
            if self.is_working_day(local.date()):
                total += day_end - at
            at = day_end
        return total

    def covered_until(self, today: date) -> date:
        """The first day from `today` the calendar does not know (checked up to HORIZON_DAYS ahead)."""
        for offset in range(HORIZON_DAYS):
            day = today + timedelta(days=offset)
            try:
                self.known_working_day(day)
            except CalendarNotCovered:
                return day
        return today + timedelta(days=HORIZON_DAYS)


_warned_years: set[int] = set()


def _warn_provisional(year: int) -> None:
    if year not in _warned_years:
        _warned_years.add(year)
        log.warning(
            "the working calendar does not know %d: deadlines count Monday to Friday as working days until the State "
            "Council's %d schedule is entered (PUT /v1/calendar/national/%d) or chinesecalendar is upgraded",
            year,
            year,
            year,
        )


def _package_years() -> str:
    known = sorted({d.year for d in chinese_calendar.holidays})
    return f"{known[0]}-{known[-1]}"


class Deadlines:
    """Which timeline each item's deadlines run on, with the calendar read from the database (refreshed when older
    than `max_age` seconds, so an override entered on one replica reaches the others within that time)."""

    def __init__(
        self,
        *,
        working: bool = True,
        round_the_clock_items: Iterable[str] = DEFAULT_ROUND_THE_CLOCK,
        max_age: float = 60.0,
    ) -> None:
        self.working = working
        self.round_the_clock_items = frozenset(round_the_clock_items)
        self.calendar = WorkingCalendar()
        self._max_age = max_age
        self._loaded_at: float | None = None

    def timeline(self, item_code: str) -> Timeline:
        if not self.working or item_code in self.round_the_clock_items:
            return ROUND_THE_CLOCK
        return self.calendar

    async def refresh(self, conn: AsyncConnection, *, force: bool = False) -> None:
        if not self.working:
            return
        now = monotonic.monotonic()
        if not force and self._loaded_at is not None and now - self._loaded_at < self._max_age:
            return
        self.calendar = await load_calendar(conn)
        self._loaded_at = now
        today = datetime.now(DISTRICT_TZ).date()
        metrics.CALENDAR_COVERED_DAYS.set((self.calendar.covered_until(today) - today).days)


async def load_calendar(conn: AsyncConnection) -> WorkingCalendar:
    rows = (await conn.execute(sa.select(calendar_days.c.day, calendar_days.c.working, calendar_days.c.scope))).all()
    years = set((await conn.execute(sa.select(calendar_years.c.year))).scalars())
    return WorkingCalendar(
        district={r.day: r.working for r in rows if r.scope == "district"},
        national_years=frozenset(years),
        national={r.day: r.working for r in rows if r.scope == "national"},
    )


@dataclass(frozen=True)
class CalendarDay:
    day: date
    working: bool
    source: str  # district | national | chinesecalendar


def calendar_days_between(calendar: WorkingCalendar, start: date, end: date) -> list[CalendarDay]:
    """Each day of [start, end] with whether it is a working day and who says so; stops at the first unknown day."""
    result, day = [], start
    while day <= end:
        if day in calendar.district:
            source = "district"
        elif day.year in calendar.national_years:
            source = "national"
        else:
            source = "chinesecalendar"
        try:
            result.append(CalendarDay(day, calendar.is_working_day(day), source))
        except CalendarNotCovered:
            break
        day += timedelta(days=1)
    return result


async def set_district_day(
    conn: AsyncConnection, day: date, *, working: bool, note: str, by: str, at: datetime
) -> None:
    """A local day off (working=False) or an extra working day, over the national calendar."""
    stmt = insert(calendar_days).values(
        day=day, scope="district", working=working, note=note, entered_by=by, entered_at=at
    )
    await conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["day", "scope"],
            set_={"working": working, "note": note, "entered_by": by, "entered_at": at},
        )
    )


async def clear_district_day(conn: AsyncConnection, day: date) -> bool:
    result = await conn.execute(
        sa.delete(calendar_days).where(calendar_days.c.day == day, calendar_days.c.scope == "district")
    )
    return bool(result.rowcount)


async def set_national_year(
    conn: AsyncConnection,
    year: int,
    *,
    holidays: Iterable[date],
    workdays: Iterable[date],
    source: str,
    by: str,
    at: datetime,
) -> None:
    """Enter (or replace) a year's State Council schedule: its public holidays and its adjusted working days (调休);
    every other weekday of the year is a working day and every other weekend day a day off."""
    days = [(d, False) for d in holidays] + [(d, True) for d in workdays]
    if any(d.year != year for d, _ in days):
        raise ValueError(f"every day must be in {year}")
    await conn.execute(
        sa.delete(calendar_days).where(
            calendar_days.c.scope == "national", sa.extract("year", calendar_days.c.day) == year
        )
    )
    if days:
        await conn.execute(
            sa.insert(calendar_days),
            [
                {"day": d, "scope": "national", "working": w, "note": source, "entered_by": by, "entered_at": at}
                for d, w in days
            ],
        )
    stmt = insert(calendar_years).values(year=year, source=source, entered_by=by, entered_at=at)
    await conn.execute(
        stmt.on_conflict_do_update(index_elements=["year"], set_={"source": source, "entered_by": by, "entered_at": at})
    )
