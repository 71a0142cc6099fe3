"""Which intake starts from the generated district: development and tests do, production never."""

from __future__ import annotations

from cryptography.fernet import Fernet
from pydantic import SecretStr

from gridloop.auth.settings import AuthSettings
from services.intake.main import make_app, seeds_generated_district
from services.intake.settings import IntakeSettings


def production_settings() -> IntakeSettings:
    auth = AuthSettings(
        signing_key=SecretStr("s" * 48),
        resident_keys=[SecretStr(Fernet.generate_key().decode())],
        digest_key=SecretStr("d" * 48),
    )
    return IntakeSettings(
        **{"GRIDLOOP_ENV": "production"},  # the field's only name (validation alias)
        database_url="postgresql+asyncpg://gridloop:real-password@db.internal:5432/gridloop_intake",
        open311_api_keys=frozenset({"a-real-key"}),
        auth=auth,
    )


def test_production_never_seeds_the_generated_district() -> None:
    settings = production_settings()
    assert settings.env == "production"
    assert seeds_generated_district(settings) is False
    assert make_app(settings).state.registry.seed is False


def test_development_and_tests_start_from_the_generated_district() -> None:
    for env in ("development", "test"):
        settings = IntakeSettings(**{"GRIDLOOP_ENV": env})
        assert seeds_generated_district(settings) is True
        assert make_app(settings).state.registry.seed is True
