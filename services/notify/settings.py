"""Notify settings (env prefix GRIDLOOP_NOTIFY_)."""

from functools import lru_cache
from pathlib import Path

from pydantic_settings import SettingsConfigDict

from gridloop.servicekit.settings import ServiceSettings


class NotifySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="GRIDLOOP_NOTIFY_", env_nested_delimiter="__", extra="ignore")

    port: int = 8004
    database_url: str = "postgresql+asyncpg://gridloop:gridloop@127.0.0.1:5432/gridloop_notify"
    public_base_url: str = "http://127.0.0.1:8004"
    templates_path: Path = Path(__file__).parent / "templates" / "messages.json"
    # SMS through a provider-style HTTP gateway; without a URL, SMS are written to the log-file channel.
    sms_gateway_url: str | None = None
    sms_api_key: str = "dev-sms-key"
    log_channel_path: Path = Path(".gridloop/notify-messages.jsonl")
    delivery_batch: int = 50
    delivery_poll_seconds: float = 0.2
    max_attempts: int = 6
    retry_base_seconds: float = 1.0
    retry_cap_seconds: float = 300.0


@lru_cache
def get_settings() -> NotifySettings:
    return NotifySettings()
