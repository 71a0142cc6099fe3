"""Departments settings (env prefix GRIDLOOP_DEPARTMENTS_)."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

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


@lru_cache
def get_settings() -> DepartmentsSettings:
    return DepartmentsSettings()
