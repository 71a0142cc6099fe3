"""Departments settings (env prefix GRIDLOOP_DEPARTMENTS_)."""

from __future__ import annotations

from functools import lru_cache

from pydantic import model_validator
from pydantic_settings import SettingsConfigDict

from gridloop.servicekit.settings import DEV_ENVS, ServiceSettings


class DepartmentsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="GRIDLOOP_DEPARTMENTS_", env_nested_delimiter="__", extra="ignore")

    port: int = 8003
    database_url: str = "postgresql+asyncpg://gridloop:gridloop@127.0.0.1:5432/gridloop_departments"
    sla_scan_seconds: float = 30.0  # how often the SLA scheduler looks for due warnings, breaches and escalations
    rate_refresh_seconds: float = 15.0
    # Interim access scoping (until issue 7): whether a request without X-GridLoop-Role / X-GridLoop-Department
    # headers acts as an operator. Unset: yes in development and tests, no elsewhere.
    anonymous_is_operator: bool | None = None

    @model_validator(mode="after")
    def _no_anonymous_operators_outside_development(self) -> DepartmentsSettings:
        if self.anonymous_is_operator is None:
            self.anonymous_is_operator = self.env in DEV_ENVS
        elif self.anonymous_is_operator and self.env not in DEV_ENVS:
            raise ValueError("anonymous_is_operator is only allowed in development and tests")
        return self


@lru_cache
def get_settings() -> DepartmentsSettings:
    return DepartmentsSettings()
