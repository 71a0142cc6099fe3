"""The settings every service shares; each service subclasses it with its own env prefix."""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from gridloop.auth.settings import AuthSettings
from gridloop.delivery.kafka import KafkaSettings

DEV_ENVS = frozenset({"development", "test"})


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore")

    env: Literal["development", "test", "production"] = Field(
        default="development", validation_alias=AliasChoices("GRIDLOOP_ENV")
    )
    host: str = "127.0.0.1"
    port: int = 8000
    database_url: str = "postgresql+asyncpg://gridloop:gridloop@127.0.0.1:5432/gridloop"
    db_pool_size: int = 10
    # How long a request or handler waits for a free database connection before giving up (an HTTP request then
    # gets 503 "busy" with Retry-After: load shedding instead of an ever longer queue).
    db_pool_timeout_seconds: float = 5.0
    max_body_bytes: int = 64 * 1024
    log_level: str = "INFO"
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)

    @model_validator(mode="after")
    def _refuse_development_secrets_outside_development(self) -> ServiceSettings:
        if self.env not in DEV_ENVS and ":gridloop@" in self.database_url:
            raise ValueError("database_url uses the development password; set a real one outside development")
        if self.env not in DEV_ENVS and (published := self.auth.development_secrets()):
            names = ", ".join(f"GRIDLOOP_AUTH_{n.upper()}" for n in published)
            raise ValueError(f"{names}: development values are published; set real keys outside development")
        return self
