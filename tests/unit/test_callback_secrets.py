"""Everything that accepts callbacks authenticates them, and refuses to start in production without the secret."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from services.notify.settings import DEV_SMS_CALLBACK_TOKEN, NotifySettings


@pytest.fixture
def production(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.setenv("GRIDLOOP_ENV", "production")
    monkeypatch.setenv("GRIDLOOP_NOTIFY_DATABASE_URL", "postgresql+asyncpg://notify:s3cret@db:5432/notify")
    monkeypatch.setenv("GRIDLOOP_AUTH_SIGNING_KEY", "x" * 40)
    monkeypatch.setenv("GRIDLOOP_AUTH_RESIDENT_KEYS", '["' + Fernet.generate_key().decode() + '"]')
    monkeypatch.setenv("GRIDLOOP_AUTH_DIGEST_KEY", "y" * 32)
    monkeypatch.setenv("GRIDLOOP_NOTIFY_SMS_GATEWAY_URL", "https://sms.example.org/send")  # a real channel
    monkeypatch.setenv("GRIDLOOP_NOTIFY_SMS_API_KEY", "a-real-sms-key-0000000000")
    monkeypatch.delenv("GRIDLOOP_NOTIFY_SMS_CALLBACK_TOKEN", raising=False)
    return monkeypatch


def test_notify_refuses_to_start_in_production_without_the_callback_token(production) -> None:
    """No gateway configured does not excuse it: the receipt and reply routes are served anyway."""
    with pytest.raises(ValueError, match="SMS_CALLBACK_TOKEN"):
        NotifySettings()


@pytest.mark.parametrize("token", [DEV_SMS_CALLBACK_TOKEN, "short-token"])
def test_notify_refuses_the_published_or_a_short_callback_token_in_production(production, token: str) -> None:
    production.setenv("GRIDLOOP_NOTIFY_SMS_CALLBACK_TOKEN", token)
    with pytest.raises(ValueError, match="SMS_CALLBACK_TOKEN"):
        NotifySettings()


def test_notify_starts_in_production_with_a_real_callback_token(production) -> None:
    production.setenv("GRIDLOOP_NOTIFY_SMS_CALLBACK_TOKEN", "z" * 40)
    assert NotifySettings().sms_callback_token == "z" * 40


def test_in_development_the_callbacks_still_need_the_published_token() -> None:
    assert NotifySettings().sms_callback_token == DEV_SMS_CALLBACK_TOKEN, "never 'no token, anyone may post'"
