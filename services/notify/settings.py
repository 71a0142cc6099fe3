"""Notify settings (env prefix GRIDLOOP_NOTIFY_)."""

from datetime import time
from functools import lru_cache
from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from gridloop.servicekit.settings import DEV_ENVS, ServiceSettings

DEV_SMS_CALLBACK_TOKEN = "gridloop-dev-sms-callback-token"  # published: refused outside development


class NotifySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="GRIDLOOP_NOTIFY_", env_nested_delimiter="__", extra="ignore")

    port: int = 8004
    database_url: str = "postgresql+asyncpg://gridloop:gridloop@127.0.0.1:5432/gridloop_notify"
    public_base_url: str = "http://127.0.0.1:8004"
    templates_path: Path = Path(__file__).parent / "templates" / "messages.json"
    # SMS through a provider-style HTTP gateway; without a URL, SMS are written to the log-file channel.
    sms_gateway_url: str | None = None
    sms_api_key: str = "dev-sms-key"
    # Bearer token the gateway presents on its callbacks (receipts, inbound replies): always required. The
    # development value is published, so outside development a real one must be set or notify does not start.
    sms_callback_token: str = DEV_SMS_CALLBACK_TOKEN
    # E-mail over SMTP; without a host, e-mails are written to the log-file channel.
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_from: str = "金牛网格 <noreply@gridloop.local>"
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    smtp_timeout_seconds: float = 10.0
    # Standard Webhooks signing secret ("whsec_" + base64 key); without one, webhooks go to the log-file channel.
    webhook_secret: str | None = None
    webhook_timeout_seconds: float = 5.0
    log_channel_path: Path = Path(".gridloop/notify-messages.jsonl")
    delivery_batch: int = 50
    # The delivery worker is woken when the consumer commits new messages; the poll finds the rest (retries due,
    # held messages in the morning). A wake waits until `delivery_gather_seconds` after the last pass began.
    delivery_poll_seconds: float = 1.0
    delivery_gather_seconds: float = Field(default=0.1, ge=0)
    # Sends in flight at once within a pass (a gateway's round trip is waited out in parallel, not in turn).
    delivery_concurrency: int = Field(default=16, ge=1)
    max_attempts: int = 6
    retry_base_seconds: float = 1.0
    retry_cap_seconds: float = 300.0
    # Quiet hours: SMS for steps not listed as urgent wait until the end of the window (local time).
    quiet_hours_start: time = time(22, 0)
    quiet_hours_end: time = time(8, 0)
    quiet_hours_timezone: str = "Asia/Shanghai"
    urgent_steps: frozenset[str] = frozenset()
    # Feedback (回访): reopen on 不满意 at most this many times, then escalate; close unrated after the timeout.
    feedback_reopen_limit: int = 2
    feedback_timeout_days: float = 7.0
    feedback_scan_seconds: float = 60.0

    @model_validator(mode="after")
    def _refuse_development_secrets_outside_development(self) -> "NotifySettings":
        if self.env in DEV_ENVS:
            return self
        if self.sms_gateway_url and self.sms_api_key == "dev-sms-key":
            raise ValueError("sms_api_key is the development key; set the gateway's real key")
        # The callback routes are served whether or not a gateway is configured: they need a secret either way.
        if self.sms_callback_token == DEV_SMS_CALLBACK_TOKEN or len(self.sms_callback_token) < 24:
            raise ValueError(
                "GRIDLOOP_NOTIFY_SMS_CALLBACK_TOKEN is unset, the development value or shorter than 24 characters; "
                "set the gateway's own token so only the gateway can post receipts and replies"
            )
        return self


@lru_cache
def get_settings() -> NotifySettings:
    return NotifySettings()
