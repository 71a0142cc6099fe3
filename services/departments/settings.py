"""Departments settings (env prefix GRIDLOOP_DEPARTMENTS_)."""

from __future__ import annotations

from functools import lru_cache

from pydantic_settings import SettingsConfigDict

from gridloop.servicekit.settings import ServiceSettings


class DepartmentsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="GRIDLOOP_DEPARTMENTS_", env_nested_delimiter="__", extra="ignore")

    port: int = 8003
    database_url: str = "postgresql+asyncpg://gridloop:gridloop@127.0.0.1:5432/gridloop_departments"
    sla_scan_seconds: float = 30.0  # how often the SLA scheduler looks for due warnings, breaches and escalations
    rate_refresh_seconds: float = 15.0
    # The clerk console (docs/consoles.md): photos are shown only from intake's public address (signed links),
    # and the session cookie is Secure unless plain-HTTP development turns that off.
    intake_public_url: str = "http://127.0.0.1:8001"
    console_secure_cookie: bool = True


@lru_cache
def get_settings() -> DepartmentsSettings:
    return DepartmentsSettings()
