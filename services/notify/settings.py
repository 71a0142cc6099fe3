"""Notify settings (env prefix GRIDLOOP_NOTIFY_)."""

from datetime import time
from functools import lru_cache
from pathlib import Path
from typing import Literal

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
    # Residents' SMS provider (sms_providers.py): "aliyun" or "tencent" through their SDKs, "gateway" for the generic
    # HTTP gateway above (also chosen when only sms_gateway_url is set); none: the log file, development only.
    sms_provider: Literal["gateway", "aliyun", "tencent"] | None = None
    sms_templates_path: Path = Path(__file__).parent / "templates" / "sms-templates.json"
    sms_sign_name: str | None = None  # the approved signature (签名); the template table's when unset
    sms_timeout_seconds: float = 5.0
    # The provider's limits for this account (sms_providers.DEFAULT_LIMITS when unset): requests per second, and
    # messages one number may receive per window as [[seconds, count], ...].
    sms_requests_per_second: float | None = Field(default=None, gt=0)
    sms_per_number_limits: tuple[tuple[int, int], ...] | None = None
    aliyun_access_key_id: str | None = None
    aliyun_access_key_secret: str | None = None
    aliyun_endpoint: str = "dysmsapi.aliyuncs.com"
    aliyun_protocol: Literal["https", "http"] = "https"
    tencent_secret_id: str | None = None
    tencent_secret_key: str | None = None
    tencent_sdk_app_id: str | None = None
    tencent_region: str = "ap-guangzhou"
    tencent_endpoint: str = "sms.tencentcloudapi.com"
    tencent_protocol: Literal["https", "http"] = "https"
    # Officials told when a case reaches their rung (officials.py): the link their message carries, and how often
    # their pending messages are looked for without a wake.
    official_case_url: str = "http://127.0.0.1:8003/v1/work-items/{case_id}"
    officials_poll_seconds: float = Field(default=5.0, gt=0)

    @property
    def resident_sms(self) -> Literal["gateway", "aliyun", "tencent"] | None:
        """The provider residents' SMS go through; None when they go to the development log file."""
        if self.sms_provider is not None:
            return self.sms_provider
        return "gateway" if self.sms_gateway_url else None

    @model_validator(mode="after")
    def _a_real_sms_provider_is_complete_and_required_in_production(self) -> "NotifySettings":
        provider = self.resident_sms
        if provider == "gateway" and not self.sms_gateway_url:
            raise ValueError("sms_provider is gateway but GRIDLOOP_NOTIFY_SMS_GATEWAY_URL is not set")
        if provider == "aliyun" and not (self.aliyun_access_key_id and self.aliyun_access_key_secret):
            raise ValueError("sms_provider aliyun needs GRIDLOOP_NOTIFY_ALIYUN_ACCESS_KEY_ID and _SECRET")
        if provider == "tencent" and not (
            self.tencent_secret_id and self.tencent_secret_key and self.tencent_sdk_app_id
        ):
            raise ValueError(
                "sms_provider tencent needs GRIDLOOP_NOTIFY_TENCENT_SECRET_ID, _SECRET_KEY and _SDK_APP_ID"
            )
        if self.env in DEV_ENVS:
            return self
        if provider is None:
            raise ValueError(
                "GRIDLOOP_ENV=production but residents' SMS have no real channel: the log file "
                f"({self.log_channel_path}) is for development only. Set GRIDLOOP_NOTIFY_SMS_PROVIDER=aliyun or "
                "tencent (with its credentials), or GRIDLOOP_NOTIFY_SMS_GATEWAY_URL (docs/notify.md)"
            )
        if not self.sms_callback_token:
            raise ValueError("sms_callback_token is required so only the provider can post receipts and replies")
        return self

    # Its own name: reusing the base class's validator name replaced it, and notify then ran none of the shared
    # checks (the development database password and auth keys) outside development.
    @model_validator(mode="after")
    def _refuse_development_sms_secrets_outside_development(self) -> "NotifySettings":
        if self.env in DEV_ENVS:
            return self
        if self.sms_gateway_url and self.sms_api_key == "dev-sms-key":
            raise ValueError("sms_api_key is the development key; set the gateway's real key")
        # The callback routes are served whether or not a gateway is configured: they need a secret either way.
        if self.sms_callback_token == DEV_SMS_CALLBACK_TOKEN or len(self.sms_callback_token) < 24:
            raise ValueError(
                "sms_callback_token (GRIDLOOP_NOTIFY_SMS_CALLBACK_TOKEN) is unset, the development value or shorter "
                "than 24 characters; set the provider's own token so only it can post receipts and replies"
            )
        return self


@lru_cache
def get_settings() -> NotifySettings:
    return NotifySettings()
