"""Residents' SMS need a real provider in production; the log file is for development only and says so."""

from __future__ import annotations

import logging
import os
import subprocess
import sys

import httpx
import pytest
from pydantic import ValidationError

from services.notify.channels import LogFileChannel
from services.notify.main import build_channels
from services.notify.settings import NotifySettings
from services.notify.sms_providers import AliyunSms, TencentSms

REAL_SECRETS = {
    "GRIDLOOP_ENV": "production",
    "GRIDLOOP_NOTIFY_DATABASE_URL": "postgresql+asyncpg://notify:s3cret@127.0.0.1:1/notify",
    "GRIDLOOP_AUTH_SIGNING_KEY": "production-signing-key-0123456789abcdef",
    "GRIDLOOP_AUTH_RESIDENT_KEYS": '["cHJvZHVjdGlvbi1yZXNpZGVudC1rZXktMDAwMDAwMDA="]',
    "GRIDLOOP_AUTH_DIGEST_KEY": "production-digest-key-0123456789abcdef",
}


@pytest.fixture
def production(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in REAL_SECRETS.items():
        monkeypatch.setenv(name, value)


def test_production_without_a_real_sms_channel_is_refused(production: None) -> None:
    with pytest.raises(ValidationError, match=r"no real channel.*development only"):
        NotifySettings()


def test_production_with_a_provider_needs_its_credentials_and_the_callback_token(production: None) -> None:
    with pytest.raises(ValidationError, match="ALIYUN_ACCESS_KEY_ID"):
        NotifySettings(sms_provider="aliyun")
    with pytest.raises(ValidationError, match="sms_callback_token"):
        NotifySettings(sms_provider="tencent", tencent_secret_id="id", tencent_secret_key="k", tencent_sdk_app_id="1")
    settings = NotifySettings(
        sms_provider="aliyun", aliyun_access_key_id="id", aliyun_access_key_secret="k", sms_callback_token="t" * 24
    )
    assert settings.resident_sms == "aliyun"


def test_the_notify_command_refuses_to_start_in_production_without_a_real_sms_channel() -> None:
    env = {**os.environ, **REAL_SECRETS}
    env.pop("GRIDLOOP_NOTIFY_SMS_PROVIDER", None)
    env.pop("GRIDLOOP_NOTIFY_SMS_GATEWAY_URL", None)
    done = subprocess.run(
        [sys.executable, "-m", "gridloop.cli", "notify"], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode != 0
    assert "GRIDLOOP_ENV=production but residents' SMS have no real channel" in done.stderr


async def test_in_development_the_log_file_stands_in_and_says_so(tmp_path, caplog) -> None:
    settings = NotifySettings(log_channel_path=tmp_path / "messages.jsonl")
    async with httpx.AsyncClient() as client:
        with caplog.at_level(logging.WARNING, logger="services.notify.main"):
            channels = build_channels(settings, client)
    assert all(isinstance(c, LogFileChannel) for c in channels.values())
    assert "DEVELOPMENT ONLY: email, sms, webhook messages go to the log file" in caplog.text


@pytest.mark.parametrize(("provider", "kind"), [("aliyun", AliyunSms), ("tencent", TencentSms)])
async def test_the_configured_provider_carries_residents_sms(provider: str, kind: type, tmp_path, caplog) -> None:
    settings = NotifySettings(
        sms_provider=provider,
        aliyun_access_key_id="id",
        aliyun_access_key_secret="k",
        tencent_secret_id="id",
        tencent_secret_key="k",
        tencent_sdk_app_id="1400000001",
        log_channel_path=tmp_path / "messages.jsonl",
    )
    async with httpx.AsyncClient() as client:
        with caplog.at_level(logging.WARNING, logger="services.notify.main"):
            channels = build_channels(settings, client)
    assert isinstance(channels["sms"], kind)
    assert "DEVELOPMENT ONLY: email, webhook messages" in caplog.text
