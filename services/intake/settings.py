"""Intake settings (env prefix GRIDLOOP_INTAKE_)."""

from functools import lru_cache

from pydantic_settings import SettingsConfigDict

from gridloop.servicekit.settings import ServiceSettings


class IntakeSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="GRIDLOOP_INTAKE_", env_nested_delimiter="__", extra="ignore")

    port: int = 8001
    database_url: str = "postgresql+asyncpg://gridloop:gridloop@127.0.0.1:5432/gridloop_intake"


@lru_cache
def get_settings() -> IntakeSettings:
    return IntakeSettings()
