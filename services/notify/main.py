"""Composition root of the notify service."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from gridloop.delivery.db import Database
from gridloop.servicekit.app import create_app
from gridloop.servicekit.runtime import Runtime
from gridloop.servicekit.serve import serve
from services.notify.api import router
from services.notify.channels import Channel, HttpSmsGateway, LogFileChannel
from services.notify.consumer import resident_consumer
from services.notify.settings import NotifySettings, get_settings
from services.notify.tables import outbox
from services.notify.templates import Templates
from services.notify.worker import DeliveryWorker


def build_channels(settings: NotifySettings) -> dict[str, Channel]:
    log_channel = LogFileChannel(settings.log_channel_path)
    sms: Channel = log_channel
    if settings.sms_gateway_url:
        sms = HttpSmsGateway(settings.sms_gateway_url, settings.sms_api_key, httpx.AsyncClient())
    return {"sms": sms, "email": log_channel, "webhook": log_channel}


async def build(settings: NotifySettings) -> Runtime:
    db = Database(settings.database_url, outbox=outbox, source="/gridloop/notify", pool_size=settings.db_pool_size)
    runtime = Runtime("notify", settings, db)
    templates = Templates.load(settings.templates_path)
    runtime.add_consumer(resident_consumer(runtime, templates=templates, public_base_url=settings.public_base_url))
    worker = DeliveryWorker(db, build_channels(settings), settings)
    runtime.add_task(worker.run, "delivery-worker")
    return runtime


def make_app(settings: NotifySettings | None = None) -> FastAPI:
    return create_app(
        name="notify", settings=settings or get_settings(), build=build, routers=[router], title="GridLoop notify"
    )


def run(argv: list[str]) -> int:
    return serve(make_app, get_settings())
