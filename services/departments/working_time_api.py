"""Routes of the working calendar: read it; operators enter the district's days off and a year's national schedule
(for years the chinesecalendar package does not know yet). Logic and SQL: working_time.py."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, status
from pydantic import BaseModel, Field

from gridloop.contracts.schemas import StrictModel
from gridloop.servicekit.app import RuntimeDep
from gridloop.servicekit.errors import unprocessable
from services.departments import working_time
from services.departments.deps import CallerDep, DeadlinesDep, NowDep, OperatorDep

router = APIRouter(prefix="/v1/calendar", tags=["working calendar"])


class CalendarDayView(BaseModel):
    day: date
    working: bool
    source: str = Field(description="district | national | chinesecalendar")


class CalendarView(BaseModel):
    days: list[CalendarDayView]
    covered_until: date = Field(description="the first day the calendar does not know (deadlines stop there)")
    round_the_clock_items: list[str] = Field(description="items whose deadlines run on calendar hours, 24/7")


class DistrictDayIn(StrictModel):
    working: bool = Field(description="false: a local day off; true: an extra working day")
    note: str = Field(min_length=2, max_length=200, description="why, e.g. 区级停电检修")


class NationalYearIn(StrictModel):
    source: str = Field(
        min_length=2, max_length=200, description="the State Council notice, e.g. 国办发明电〔2026〕7号"
    )
    holidays: list[date] = Field(max_length=60, description="public holidays (days off)")
    workdays: list[date] = Field(max_length=20, description="adjusted working days on weekends (调休上班)")


@router.get("", response_model=CalendarView)
async def get_calendar(
    runtime: RuntimeDep,
    caller: CallerDep,
    deadlines: DeadlinesDep,
    now: NowDep,
    start: Annotated[date | None, Query(alias="from")] = None,
    end: Annotated[date | None, Query(alias="to", description="inclusive; at most 366 days after from")] = None,
) -> CalendarView:
    start = start or now.astimezone(working_time.DISTRICT_TZ).date()
    end = end or start + timedelta(days=30)
    if not start <= end <= start + timedelta(days=366):
        raise unprocessable("to must be within 366 days after from", "query", "to")
    async with runtime.db.engine.connect() as conn:
        calendar = await working_time.load_calendar(conn)
    return CalendarView(
        days=[CalendarDayView(**vars(d)) for d in working_time.calendar_days_between(calendar, start, end)],
        covered_until=calendar.covered_until(start),
        round_the_clock_items=sorted(deadlines.round_the_clock_items),
    )


@router.put("/district/{day}", status_code=204, responses={403: {"description": "operators only"}})
async def put_district_day(
    day: date, body: DistrictDayIn, runtime: RuntimeDep, caller: OperatorDep, deadlines: DeadlinesDep, now: NowDep
) -> None:
    """A local day off or extra working day; deadlines computed from now on use it (other replicas within 60 s)."""
    async with runtime.db.unit_of_work() as uow:
        await working_time.set_district_day(uow.conn, day, working=body.working, note=body.note, by=caller.name, at=now)
        await deadlines.refresh(uow.conn, force=True)


@router.delete("/district/{day}", status_code=204, responses={403: {"description": "operators only"}})
async def delete_district_day(day: date, runtime: RuntimeDep, caller: OperatorDep, deadlines: DeadlinesDep) -> None:
    async with runtime.db.unit_of_work() as uow:
        if not await working_time.clear_district_day(uow.conn, day):
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no district entry for {day}")
        await deadlines.refresh(uow.conn, force=True)


@router.put("/national/{year}", status_code=204, responses={403: {"description": "operators only"}})
async def put_national_year(
    year: Annotated[int, Path(ge=2004, le=2100)],
    body: NationalYearIn,
    runtime: RuntimeDep,
    caller: OperatorDep,
    deadlines: DeadlinesDep,
    now: NowDep,
) -> None:
    """Enter a year's national schedule (holidays and 调休 working days) from the State Council notice."""
    try:
        async with runtime.db.unit_of_work() as uow:
            await working_time.set_national_year(
                uow.conn,
                year,
                holidays=body.holidays,
                workdays=body.workdays,
                source=body.source,
                by=caller.name,
                at=now,
            )
            await deadlines.refresh(uow.conn, force=True)
    except ValueError as exc:
        raise unprocessable(str(exc), "body") from None
