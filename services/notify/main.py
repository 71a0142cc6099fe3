"""Composition root of the notify service."""

from __future__ import annotations

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
from services.notify.feedback import FeedbackTimeouts
from services.notify.pages import router as pages_router
from services.notify.runtime import NotifyRuntime
from services.notify.settings import NotifySettings, get_settings
from services.notify.tables import outbox
from services.notify.templates import Templates
from services.notify.worker import DeliveryWorker


def build_channels(settings: NotifySettings, client: httpx.AsyncClient) -> dict[str, Channel]:
    """Real channels where configured; the log-file channel stands in for the rest (development)."""
    log_channel = LogFileChannel(settings.log_channel_path)
    channels: dict[str, Channel] = {"sms": log_channel, "email": log_channel, "webhook": log_channel}
    if settings.sms_gateway_url:
        channels["sms"] = HttpSmsGateway(settings.sms_gateway_url, settings.sms_api_key, client)
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
    return channels


async def build(settings: NotifySettings, *, clock: Clock = SYSTEM_CLOCK) -> NotifyRuntime:
    db = Database.for_service(settings, outbox=outbox, source="/gridloop/notify")
    runtime = NotifyRuntime(settings, db, clock=clock)
    templates = Templates.load(settings.templates_path)
    channels = build_channels(settings, runtime.http)
    # Quiet hours protect residents' sleep: they apply to SMS that reach a phone, not to the log file.
    quiet = frozenset({"sms"}) if settings.sms_gateway_url else frozenset()
    worker = DeliveryWorker(db, channels, settings, clock=clock, quiet_channels=quiet, cipher=runtime.cipher)
    runtime.add_consumer(
        resident_consumer(
            runtime,
            templates=templates,
            public_base_url=settings.public_base_url,
            clock=clock,
            feedback_timeout=timedelta(days=settings.feedback_timeout_days),
            wake=worker.wake,  # a resident's message goes out once it is written, not at the next poll
        )
    )
    runtime.add_task(worker.run, "delivery-worker")
    timeouts = FeedbackTimeouts(db, clock=clock, scan_seconds=settings.feedback_scan_seconds)
    runtime.add_task(timeouts.run, "feedback-timeouts")
    return runtime


def make_app(settings: NotifySettings | None = None, *, clock: Clock = SYSTEM_CLOCK) -> FastAPI:
    """The notify app; tests pass a clock they can move (quiet hours, feedback timeout)."""
    return create_app(
        name="notify",
        settings=settings or get_settings(),
        build=partial(build, clock=clock),
        routers=[router, pages_router],
        title="GridLoop notify",
    )


def run(argv: list[str]) -> int:
    return serve(make_app, get_settings())
