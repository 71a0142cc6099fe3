"""Credentials: JWTs (HS256) an operator issues to workers, departments and operators, and who they name.

A token is stateless to verify (signature, issuer, expiry); its `jti` is checked against the service's
`revoked_tokens` table on every request, so a revocation takes effect at once (gridloop/auth/deps.py).

A worker's app sends the same token with every report, so a verified token is remembered (by its exact text,
with the principal and expiry it carries) and a repeat costs a dictionary lookup and an expiry check instead of
an HMAC and a full JWT decode (a tenth of intake's CPU under load). A token that differs in one character is
another key and is verified in full; expiry is still checked on every use; revocation is checked by the caller
on every request, cached or not.
"""

from __future__ import annotations

import hashlib
import hmac
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal, get_args

import jwt

from gridloop.contracts.topics import DEPARTMENTS

Role = Literal["operator", "department", "worker"]
ROLES: tuple[str, ...] = get_args(Role)
ISSUER = "gridloop"
ALGORITHM = "HS256"
VERIFIED_CACHE_SIZE = 4096  # tokens remembered once verified (the district has 1,438 grid workers)


class InvalidCredentials(Exception):
    """Missing, malformed, expired, wrongly signed or revoked credentials (answered with 401)."""


@dataclass(frozen=True)
class Principal:
    """Who is calling. `subject` is the operator's name, the department or the worker id."""

    role: str  # operator | department | worker | open311 (an API key)
    subject: str
    token_id: str | None = None
    name: str | None = None  # the person a department credential names (a clerk's own credential)

    @property
    def person(self) -> str | None:
        """Who acts: the clerk a department credential names, an operator, or None (a department's system)."""
        if self.role == "department":
            return self.name
        return self.subject if self.role == "operator" else None

    @property
    def actor(self) -> str:
        return f"{self.role}:{self.subject}"

    @property
    def department(self) -> str | None:
        return self.subject if self.role == "department" else None

    @property
    def worker_id(self) -> str | None:
        return self.subject if self.role == "worker" else None


@dataclass(frozen=True)
class IssuedToken:
    token: str
    token_id: str
    principal: Principal
    expires_at: datetime


def api_key_principal(api_key: str) -> Principal:
    """An Open311 client, named by a digest of its key (never the key itself)."""
    return Principal("open311", hashlib.sha256(api_key.encode()).hexdigest()[:12])


class TokenIssuer:
    """Issues and verifies credentials with one HS256 key."""

    def __init__(self, signing_key: str, *, clock: Callable[[], float] = time.time) -> None:
        if len(signing_key.encode()) < 32:
            raise ValueError("the signing key must be at least 32 bytes")
        self._key = signing_key
        self._clock = clock
        self._verified: OrderedDict[str, tuple[Principal, int]] = OrderedDict()  # token -> (principal, exp)

    def issue(
        self, *, role: str, subject: str, ttl: timedelta, now: datetime | None = None, name: str | None = None
    ) -> IssuedToken:
        """A credential; `name` makes a department credential a person's (the clerk is recorded on each step)."""
        principal = _checked(role, subject)
        if name is not None and (role != "department" or not 1 <= len(name) <= 50):
            raise ValueError("a name (1-50 characters) is given to department credentials only")
        issued_at = now or datetime.now(UTC)
        token_id = str(uuid.uuid4())
        expires_at = issued_at + ttl
        claims: dict[str, str | int] = {
            "iss": ISSUER,
            "sub": subject,
            "role": role,
            "jti": token_id,
            "iat": int(issued_at.timestamp()),
            "exp": int(expires_at.timestamp()),
        }
        if name is not None:
            claims["name"] = name
        token = jwt.encode(claims, self._key, algorithm=ALGORITHM)
        return IssuedToken(token, token_id, Principal(principal.role, principal.subject, token_id, name), expires_at)

    def mac(self, purpose: str, value: str) -> str:
        """An HMAC of value with the signing key, kept apart per purpose (consoles' CSRF tokens, photo links)."""
        digest = hmac.new(self._key.encode(), f"{purpose}\0{value}".encode(), hashlib.sha256).hexdigest()
        return digest[:40]

    def expiry(self, token: str) -> datetime | None:
        """When a token verified before expires (None if it was not verified here)."""
        remembered = self._verified.get(token)
        return datetime.fromtimestamp(remembered[1], UTC) if remembered else None

    def verify(self, token: str) -> Principal:
        remembered = self._verified.get(token)
        if remembered is not None:
            principal, expires = remembered
            if self._clock() < expires:  # PyJWT's rule: expired once now >= exp
                self._verified.move_to_end(token)
                return principal
            del self._verified[token]
            raise InvalidCredentials("invalid token: Signature has expired")
        principal, expires = self._decode(token)
        self._verified[token] = (principal, expires)
        if len(self._verified) > VERIFIED_CACHE_SIZE:
            self._verified.popitem(last=False)  # the least recently used
        return principal

    def _decode(self, token: str) -> tuple[Principal, int]:
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=[ALGORITHM],
                issuer=ISSUER,
                options={"require": ["iss", "sub", "role", "jti", "iat", "exp"]},
            )
        except jwt.PyJWTError as exc:
            raise InvalidCredentials(f"invalid token: {exc}") from None
        role, subject, token_id = claims["role"], claims["sub"], claims["jti"]
        if not all(isinstance(v, str) for v in (role, subject, token_id)):
            raise InvalidCredentials("invalid token: malformed claims")
        principal = _checked(role, subject, error=InvalidCredentials)
        name = claims.get("name")
        if name is not None and (role != "department" or not isinstance(name, str) or not 1 <= len(name) <= 50):
            raise InvalidCredentials("invalid token: malformed name claim")
        return Principal(principal.role, principal.subject, token_id, name), int(claims["exp"])


def _checked(role: str, subject: str, error: type[Exception] = ValueError) -> Principal:
    if role not in ROLES:
        raise error(f"unknown role {role!r}; one of {', '.join(ROLES)}")
    if role == "department" and subject not in DEPARTMENTS:
        raise error(f"unknown department {subject!r}; one of {', '.join(DEPARTMENTS)}")
    if not subject or len(subject) > 64:
        raise error("the subject must be 1-64 characters")
    return Principal(role, subject)
