"""Credentials: who a token names, and every way a token is refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt
import pytest
from cryptography.fernet import Fernet

from gridloop.auth.settings import DEV_SIGNING_KEY, AuthSettings
from gridloop.auth.tokens import InvalidCredentials, Principal, TokenIssuer, api_key_principal
from services.intake.settings import IntakeSettings

ISSUER = TokenIssuer(DEV_SIGNING_KEY)


def test_an_issued_token_names_its_role_and_subject() -> None:
    issued = ISSUER.issue(role="worker", subject="JN-W0001", ttl=timedelta(days=30))
    principal = ISSUER.verify(issued.token)
    assert principal == Principal("worker", "JN-W0001", issued.token_id)
    assert (principal.actor, principal.worker_id, principal.department) == ("worker:JN-W0001", "JN-W0001", None)
    assert (
        ISSUER.verify(ISSUER.issue(role="department", subject="police", ttl=timedelta(1)).token).department == "police"
    )


@pytest.mark.parametrize(
    ("role", "subject"), [("admin", "x"), ("department", "army"), ("worker", ""), ("operator", "x" * 65)]
)
def test_unknown_roles_departments_and_empty_subjects_are_not_issued(role: str, subject: str) -> None:
    with pytest.raises(ValueError):
        ISSUER.issue(role=role, subject=subject, ttl=timedelta(days=1))


def test_an_expired_token_is_refused() -> None:
    issued = ISSUER.issue(
        role="operator", subject="王芳", ttl=timedelta(hours=1), now=datetime.now(UTC) - timedelta(hours=2)
    )
    with pytest.raises(InvalidCredentials, match="expired"):
        ISSUER.verify(issued.token)


def test_a_token_signed_with_another_key_or_none_is_refused() -> None:
    other = TokenIssuer("another-key-of-at-least-thirty-two-bytes!").issue(
        role="operator", subject="x", ttl=timedelta(1)
    )
    with pytest.raises(InvalidCredentials, match=r"(?i)signature"):
        ISSUER.verify(other.token)
    claims = jwt.decode(other.token, options={"verify_signature": False})
    unsigned = jwt.encode(claims, key=None, algorithm="none")
    with pytest.raises(InvalidCredentials):
        ISSUER.verify(unsigned)


def test_a_validly_signed_token_with_a_forged_role_is_refused() -> None:
    now = int(datetime.now(UTC).timestamp())
    claims = {"iss": "gridloop", "sub": "x", "role": "superuser", "jti": "1", "iat": now, "exp": now + 60}
    with pytest.raises(InvalidCredentials, match="unknown role"):
        ISSUER.verify(jwt.encode(claims, DEV_SIGNING_KEY, algorithm="HS256"))
    del claims["jti"]
    with pytest.raises(InvalidCredentials, match="jti"):
        ISSUER.verify(jwt.encode({**claims, "role": "operator"}, DEV_SIGNING_KEY, algorithm="HS256"))


def test_open311_clients_are_named_by_a_digest_of_their_key() -> None:
    principal = api_key_principal("a-secret-key")
    assert principal.role == "open311" and "secret" not in principal.subject and len(principal.subject) == 12


def test_short_keys_are_refused() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        TokenIssuer("short")
    with pytest.raises(ValueError, match="SIGNING_KEY"):
        AuthSettings(signing_key="short")
    with pytest.raises(ValueError, match="Fernet"):
        AuthSettings(resident_keys=["not-a-fernet-key"])


def test_outside_development_every_published_key_is_refused(monkeypatch) -> None:
    monkeypatch.setenv("GRIDLOOP_ENV", "production")
    monkeypatch.setenv("GRIDLOOP_INTAKE_DATABASE_URL", "postgresql+asyncpg://intake:s3cret@db:5432/intake")
    monkeypatch.setenv("GRIDLOOP_INTAKE_OPEN311_API_KEYS", '["a-real-key"]')
    with pytest.raises(
        ValueError, match="GRIDLOOP_AUTH_SIGNING_KEY, GRIDLOOP_AUTH_RESIDENT_KEYS, GRIDLOOP_AUTH_DIGEST_KEY"
    ):
        IntakeSettings()
    monkeypatch.setenv("GRIDLOOP_AUTH_SIGNING_KEY", "k" * 40)
    monkeypatch.setenv("GRIDLOOP_AUTH_DIGEST_KEY", "d" * 32)
    with pytest.raises(ValueError, match="RESIDENT_KEYS"):
        IntakeSettings()
    monkeypatch.setenv("GRIDLOOP_AUTH_RESIDENT_KEYS", f'["{Fernet.generate_key().decode()}"]')
    assert IntakeSettings().auth.development_secrets() == []
