"""Composition root of the notify service."""

from __future__ import annotations

import logging
from datetime import timedelta
from functools import partial

import httpx
from fastapi import FastAPI

from gridloop.delivery.db import Database
from gridloop.servicekit.app import create_app
from gridloop.servicekit.clock import SYSTEM_CLOCK, Clock
from gridloop.servicekit.serve import serve
from services.notify.api import router
from services.notify.channels import Channel, HttpSmsGateway, LogFileChannel, SmtpChannel, WebhookChannel
from services.notify.consumer import resident_consumer
from services.notify.escalations_api import router as escalations_router
from services.notify.feedback import close_due_requests
from services.notify.officials import OfficialsDelivery
from services.notify.officials_api import router as officials_router
from services.notify.pages import router as pages_router
from services.notify.runtime import NotifyRuntime
from services.notify.settings import NotifySettings, get_settings
from services.notify.sms_callbacks_api import router as sms_callbacks_router
from services.notify.sms_providers import DEFAULT_LIMITS, AliyunSms, ProviderLimits, TencentSms
from services.notify.sms_templates import SmsTemplateTable
from services.notify.tables import outbox
from services.notify.templates import Templates
from services.notify.worker import DeliveryWorker

log = logging.getLogger(__name__)


def provider_limits(settings: NotifySettings, provider: str) -> ProviderLimits:
    default = DEFAULT_LIMITS[provider]
    return ProviderLimits(
        requests_per_second=settings.sms_requests_per_second or default.requests_per_second,
        per_number=settings.sms_per_number_limits if settings.sms_per_number_limits is not None else default.per_number,
    )


def build_sms_channel(
    settings: NotifySettings, client: httpx.AsyncClient, *, clock: Clock = SYSTEM_CLOCK
) -> Channel | None:
    """The residents' SMS provider as configured (None: no real one)."""
    provider = settings.resident_sms
    if provider == "gateway":
        assert settings.sms_gateway_url is not None
        return HttpSmsGateway(settings.sms_gateway_url, settings.sms_api_key, client)
    if provider is None:
        return None
    table = SmsTemplateTable.load(settings.sms_templates_path, public_base_url=settings.public_base_url)
    common = {
        "sign_name": settings.sms_sign_name,
        "timeout_seconds": settings.sms_timeout_seconds,
        "clock": clock,
    }
    if provider == "aliyun":
        assert settings.aliyun_access_key_id and settings.aliyun_access_key_secret
        return AliyunSms(
            table,
            provider_limits(settings, provider),
            access_key_id=settings.aliyun_access_key_id,
            access_key_secret=settings.aliyun_access_key_secret,
            endpoint=settings.aliyun_endpoint,
            protocol=settings.aliyun_protocol,
            **common,
        )
    assert settings.tencent_secret_id and settings.tencent_secret_key and settings.tencent_sdk_app_id
    return TencentSms(
        table,
        provider_limits(settings, provider),
        secret_id=settings.tencent_secret_id,
        secret_key=settings.tencent_secret_key,
        sdk_app_id=settings.tencent_sdk_app_id,
        region=settings.tencent_region,
        endpoint=settings.tencent_endpoint,
        protocol=settings.tencent_protocol,
        **common,
    )


def build_channels(
    settings: NotifySettings, client: httpx.AsyncClient, *, clock: Clock = SYSTEM_CLOCK
) -> dict[str, Channel]:
    """Real channels where configured; the log-file channel stands in for the rest (development only: production
    refuses to start without a real SMS channel, see NotifySettings)."""
    log_channel = LogFileChannel(settings.log_channel_path)
    channels: dict[str, Channel] = {"sms": log_channel, "email": log_channel, "webhook": log_channel}
    sms = build_sms_channel(settings, client, clock=clock)
    if sms is not None:
        channels["sms"] = sms
    if settings.smtp_host:
        channels["email"] = SmtpChannel(
            host=settings.smtp_host,
            port=settings.smtp_port,
            sender=settings.smtp_from,
            username=settings.smtp_username,
            password=settings.smtp_password,
            starttls=settings.smtp_starttls,
            timeout=settings.smtp_timeout_seconds,
        )
    if settings.webhook_secret:
        channels["webhook"] = WebhookChannel(settings.webhook_secret, client, timeout=settings.webhook_timeout_seconds)
    on_file = sorted(name for name, channel in channels.items() if channel is log_channel)
    if on_file:
        log.warning(
            "DEVELOPMENT ONLY: %s messages go to the log file %s, not to residents (configure a real channel: "
            "docs/notify.md)",
            ", ".join(on_file),
            settings.log_channel_path,
        )
    return channels


async def build(settings: NotifySettings, *, clock: Clock = SYSTEM_CLOCK) -> NotifyRuntime:
    db = Database.for_service(settings, outbox=outbox, source="/gridloop/notify")
    runtime = NotifyRuntime(settings, db, clock=clock)
    templates = Templates.load(settings.templates_path)
    channels = build_channels(settings, runtime.http, clock=clock)
    # Quiet hours protect residents' sleep: they apply to SMS that reach a phone, not to the log file.
    quiet = frozenset({"sms"}) if settings.resident_sms else frozenset()
    worker = DeliveryWorker(db, channels, settings, clock=clock, quiet_channels=quiet, cipher=runtime.cipher)
    officials_delivery = OfficialsDelivery(
        db,
        channels,
        clock=clock,
        poll_seconds=settings.officials_poll_seconds,
        max_attempts=settings.max_attempts,
        retry_base=settings.retry_base_seconds,
        retry_cap=settings.retry_cap_seconds,
    )
    resident_consumer(
        runtime,
        templates=templates,
        public_base_url=settings.public_base_url,
        clock=clock,
        feedback_timeout=timedelta(days=settings.feedback_timeout_days),
        wake=worker.wake,  # a resident's message goes out once it is written, not at the next poll
        official_case_url=settings.official_case_url,
        officials_wake=officials_delivery.wake,
    )
    runtime.add_task(officials_delivery.run, "officials-delivery")  # woken by commits, not periodic
    runtime.add_task(worker.run, "delivery-worker")  # woken by commits, not periodic
    runtime.every(settings.feedback_scan_seconds, partial(close_due_requests, db, clock), "feedback-timeouts")
    return runtime


def make_app(settings: NotifySettings | None = None, *, clock: Clock = SYSTEM_CLOCK) -> FastAPI:
    """The notify app; tests pass a clock they can move (quiet hours, feedback timeout)."""
    return create_app(
        name="notify",
        settings=settings or get_settings(),
        build=partial(build, clock=clock),
        routers=[router, sms_callbacks_router, officials_router, escalations_router, pages_router],
        title="GridLoop notify",
    )


def run(argv: list[str]) -> int:
    return serve(make_app, get_settings())
