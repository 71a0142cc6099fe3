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


class _Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC).timestamp()

    def __call__(self) -> float:
        return self.now


def test_a_remembered_token_is_still_refused_once_it_expires() -> None:
    clock = _Clock()
    issuer = TokenIssuer(DEV_SIGNING_KEY, clock=clock)
    issued = issuer.issue(role="worker", subject="JN-W0002", ttl=timedelta(minutes=10))
    assert issuer.verify(issued.token) == issuer.verify(issued.token)  # the second from memory
    clock.now = issued.expires_at.timestamp() - 1
    assert issuer.verify(issued.token).worker_id == "JN-W0002"
    clock.now = issued.expires_at.timestamp()
    with pytest.raises(InvalidCredentials, match="expired"):
        issuer.verify(issued.token)


def test_a_token_one_character_away_from_a_remembered_one_is_verified_in_full() -> None:
    issuer = TokenIssuer(DEV_SIGNING_KEY)
    issued = issuer.issue(role="worker", subject="JN-W0003", ttl=timedelta(days=1))
    issuer.verify(issued.token)
    head, payload, signature = issued.token.split(".")
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    with pytest.raises(InvalidCredentials, match=r"(?i)signature"):
        issuer.verify(f"{head}.{payload}.{flipped}")
    forged = jwt.encode(
        {**jwt.decode(issued.token, options={"verify_signature": False}), "sub": "JN-W9999"},
        "another-key-of-at-least-thirty-two-bytes!",
        algorithm="HS256",
    )
    with pytest.raises(InvalidCredentials, match=r"(?i)signature"):
        issuer.verify(forged)


def test_the_memory_of_verified_tokens_is_bounded() -> None:
    from gridloop.auth import tokens

    issuer = TokenIssuer(DEV_SIGNING_KEY)
    for n in range(tokens.VERIFIED_CACHE_SIZE + 10):
        issuer.verify(issuer.issue(role="worker", subject=f"W{n}", ttl=timedelta(days=1)).token)
    assert len(issuer._verified) == tokens.VERIFIED_CACHE_SIZE


def test_a_clerks_credential_names_the_department_and_the_person() -> None:
    issued = ISSUER.issue(role="department", subject="police", ttl=timedelta(days=1), name="钱警官")
    principal = ISSUER.verify(issued.token)
    assert (principal.department, principal.name, principal.person) == ("police", "钱警官", "钱警官")
    assert ISSUER.verify(ISSUER.issue(role="department", subject="police", ttl=timedelta(1)).token).person is None
    assert ISSUER.verify(ISSUER.issue(role="operator", subject="王芳", ttl=timedelta(1)).token).person == "王芳"


@pytest.mark.parametrize(("role", "name"), [("worker", "张三"), ("operator", "王芳"), ("department", "x" * 51)])
def test_a_name_is_given_to_department_credentials_only(role: str, name: str) -> None:
    subject = {"worker": "JN-W0001", "operator": "王芳", "department": "police"}[role]
    with pytest.raises(ValueError):
        ISSUER.issue(role=role, subject=subject, ttl=timedelta(days=1), name=name)


def test_a_token_with_a_name_claim_on_another_role_is_refused() -> None:
    now = int(datetime.now(UTC).timestamp())
    claims = {"iss": "gridloop", "sub": "JN-W0001", "role": "worker", "jti": "j", "iat": now, "exp": now + 60}
    forged = jwt.encode({**claims, "name": "张三"}, DEV_SIGNING_KEY, algorithm="HS256")
    with pytest.raises(InvalidCredentials, match="name claim"):
        ISSUER.verify(forged)


def test_macs_differ_by_purpose_and_key() -> None:
    assert ISSUER.mac("csrf", "t1") == ISSUER.mac("csrf", "t1")
    assert ISSUER.mac("csrf", "t1") != ISSUER.mac("photo", "t1")
    assert ISSUER.mac("csrf", "t1") != TokenIssuer("k" * 32).mac("csrf", "t1")
