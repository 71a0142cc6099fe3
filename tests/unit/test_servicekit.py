"""Service plumbing that needs no I/O: settings safety, log masking."""

from __future__ import annotations

import json
import logging

import pytest
from cryptography.fernet import Fernet

from gridloop.contracts.events import mask_phones
from gridloop.servicekit.logs import JsonFormatter
from services.departments.settings import DepartmentsSettings
from services.intake.settings import IntakeSettings
from services.notify.settings import NotifySettings
from services.router.settings import RouterSettings


@pytest.mark.parametrize("service", ["intake", "router", "departments", "notify"])
def test_development_password_is_refused_in_production_by_every_service(monkeypatch, service: str) -> None:
    """The shared check runs in each service's settings (a subclass validator of the same name once replaced it)."""
    settings_class = {
        "intake": IntakeSettings,
        "router": RouterSettings,
        "departments": DepartmentsSettings,
        "notify": NotifySettings,
    }[service]
    monkeypatch.setenv("GRIDLOOP_ENV", "production")
    if service == "notify":  # past notify's own production checks, to reach the shared one
        monkeypatch.setenv("GRIDLOOP_NOTIFY_SMS_GATEWAY_URL", "https://sms.example.invalid/send")
        monkeypatch.setenv("GRIDLOOP_NOTIFY_SMS_API_KEY", "a-real-key")
        monkeypatch.setenv("GRIDLOOP_NOTIFY_SMS_CALLBACK_TOKEN", "a-real-callback-token")
    with pytest.raises(ValueError, match="development password"):
        settings_class()


def test_production_starts_with_a_real_password(monkeypatch) -> None:
    monkeypatch.setenv("GRIDLOOP_ENV", "production")
    monkeypatch.setenv("GRIDLOOP_INTAKE_DATABASE_URL", "postgresql+asyncpg://intake:s3cret@db:5432/intake")
    monkeypatch.setenv("GRIDLOOP_INTAKE_OPEN311_API_KEYS", '["a-real-open311-key"]')
    monkeypatch.setenv("GRIDLOOP_AUTH_SIGNING_KEY", "x" * 40)
    monkeypatch.setenv("GRIDLOOP_AUTH_RESIDENT_KEYS", '["' + Fernet.generate_key().decode() + '"]')
    monkeypatch.setenv("GRIDLOOP_AUTH_DIGEST_KEY", "y" * 32)
    assert IntakeSettings().env == "production"


def test_phone_numbers_are_masked_in_log_lines() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "resident %s called", ("13812345678",), None)
    line = json.loads(JsonFormatter("intake").format(record))
    assert line["msg"] == "resident 138****5678 called"
    assert mask_phones("订单号123456789012345") == "订单号123456789012345", "long digit runs are not phones"


async def test_metrics_are_rendered_off_the_event_loop() -> None:
    """A scrape renders the registry in a worker thread, so a large /metrics does not stall consumers and
    requests for its whole rendering time."""
    import threading

    import httpx
    from fastapi import FastAPI
    from prometheus_client import REGISTRY
    from prometheus_client.core import GaugeMetricFamily

    from gridloop.servicekit.app import _probes

    seen: list[int] = []

    class Probe:
        def collect(self):
            seen.append(threading.get_ident())
            yield GaugeMetricFamily("gridloop_test_render_thread", "where /metrics was rendered", value=1)

    probe = Probe()
    REGISTRY.register(probe)  # collects once, here, to check the names
    seen.clear()
    try:
        app = FastAPI()
        app.include_router(_probes())
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            response = await client.get("/metrics")
    finally:
        REGISTRY.unregister(probe)
    assert response.status_code == 200 and "gridloop_test_render_thread 1.0" in response.text
    assert seen and threading.get_ident() not in seen


async def test_the_loop_lag_watcher_records_how_long_the_loop_was_blocked() -> None:
    import asyncio
    import contextlib
    import time

    from prometheus_client import REGISTRY

    from gridloop.servicekit.loop_lag import watch_loop_lag

    def observed() -> tuple[float, float]:
        return (
            REGISTRY.get_sample_value("gridloop_event_loop_lag_seconds_count") or 0.0,
            REGISTRY.get_sample_value("gridloop_event_loop_lag_seconds_sum") or 0.0,
        )

    count_before, sum_before = observed()
    watcher = asyncio.create_task(watch_loop_lag(interval=0.01))
    await asyncio.sleep(0.005)  # the watcher is asleep, due in ~5 ms
    time.sleep(0.2)  # noqa: ASYNC251 -- synchronous work holding the loop is what the watcher must see
    await asyncio.sleep(0.05)
    watcher.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await watcher
    count_after, sum_after = observed()
    assert count_after > count_before
    assert sum_after - sum_before >= 0.15  # the blocked ~195 ms were seen as lag, once
    assert REGISTRY.get_sample_value("gridloop_event_loop_lag_seconds_bucket", {"le": "0.1"}) < count_after


def test_every_collection_is_timed_once_by_generation() -> None:
    import gc

    from prometheus_client import REGISTRY

    from gridloop.servicekit.gc_pauses import watch_gc_pauses

    def full_collections() -> float:
        return REGISTRY.get_sample_value("gridloop_gc_pause_seconds_count", {"generation": "2"}) or 0.0

    watch_gc_pauses()
    watch_gc_pauses()  # a second call adds no second timer
    gc.disable()  # no automatic collection in between (reading the registry allocates): only the two below count
    try:
        before = full_collections()
        gc.collect()
        gc.collect()
        after = full_collections()
    finally:
        gc.enable()
    assert after == before + 2


def test_the_start_up_heap_is_frozen_out_of_later_collections() -> None:
    import gc

    from gridloop.servicekit.gc_pauses import freeze_startup_heap

    try:
        frozen = freeze_startup_heap()
        assert frozen == gc.get_freeze_count() > 10_000  # this test process: pytest, our packages and their imports
        assert len(gc.get_objects()) < frozen / 10, "later collections visit only what was created since"
    finally:
        gc.unfreeze()  # the rest of the suite keeps its normal collector
