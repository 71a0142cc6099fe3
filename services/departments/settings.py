"""Departments settings (env prefix GRIDLOOP_DEPARTMENTS_)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from gridloop.servicekit.settings import ServiceSettings
from services.departments.working_time import DEFAULT_ROUND_THE_CLOCK


class DepartmentsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="GRIDLOOP_DEPARTMENTS_", env_nested_delimiter="__", extra="ignore")

    port: int = 8003
    database_url: str = "postgresql+asyncpg://gridloop:gridloop@127.0.0.1:5432/gridloop_departments"
    sla_scan_seconds: float = 30.0  # how often the SLA scheduler looks for due warnings, breaches and escalations
    rate_refresh_seconds: float = 15.0
    # Deadlines run on the working calendar (working_time.py), or on calendar hours 24/7 for every item.
    calendar: Literal["working", "round_the_clock"] = "working"
    # Items whose deadlines stay on calendar hours, 24/7, whatever the calendar (urgent risks to people).
    round_the_clock_items: frozenset[str] = DEFAULT_ROUND_THE_CLOCK
    # The clerk console (docs/consoles.md): photos are shown only from intake's public address (signed links),
    # and the session cookie is Secure unless plain-HTTP development turns that off.
    intake_public_url: str = "http://127.0.0.1:8001"
    console_secure_cookie: bool = True
    # The weekly assessment report, published on a schedule (publishing.py): once the ISO week is over and the
    # publication moment has come (weekday 1 = Monday … 7 = Sunday, hour in Asia/Shanghai, of the following week),
    # the previous week's report is built, kept in the database and written to the reports directory; weeks missed
    # while the service was down are caught up. The scheduler looks every weekly_report_check_seconds.
    publish_weekly_reports: bool = True
    weekly_report_weekday: int = Field(default=1, ge=1, le=7)
    weekly_report_hour: int = Field(default=6, ge=0, le=23)
    weekly_report_dir: Path = Path("reports")
    weekly_report_check_seconds: float = Field(default=300.0, gt=0)


@lru_cache
def get_settings() -> DepartmentsSettings:
    return DepartmentsSettings()
