"""Keys and limits shared by every service (env prefix GRIDLOOP_AUTH_); the development values are public."""

from __future__ import annotations

import base64
import binascii
from datetime import timedelta

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Published in the repository, so they protect nothing: ServiceSettings refuses them outside development.
DEV_SIGNING_KEY = "gridloop-development-signing-key-do-not-use-in-production"
DEV_RESIDENT_KEY = "Z3JpZGxvb3AtZGV2LXJlc2lkZW50LWtleS0wMDAwMDA="  # Fernet: urlsafe base64 of 32 bytes
DEV_DIGEST_KEY = "gridloop-development-digest-key"


class AuthSettings(BaseSettings):
    """Signing key for credentials, keys for residents' contact details, and rate limits."""

    model_config = SettingsConfigDict(env_prefix="GRIDLOOP_AUTH_", extra="ignore")

    # HS256 key every service verifies credentials with (at least 32 bytes).
    signing_key: SecretStr = SecretStr(DEV_SIGNING_KEY)
    # Fernet keys for residents' contact details, newest first: the first encrypts, all decrypt (rotation).
    resident_keys: list[SecretStr] = Field(default_factory=lambda: [SecretStr(DEV_RESIDENT_KEY)])
    # HMAC key for the lookup digest of a resident's phone (SMS replies are matched by it).
    digest_key: SecretStr = SecretStr(DEV_DIGEST_KEY)
    worker_token_days: float = 30.0
    department_token_days: float = 30.0
    operator_token_hours: float = 12.0
    # Token buckets: reports per worker, Open311 posts per API key, public Open311 reads per API key or client
    # address. The numbers are for the whole deployment: each of `replicas` processes keeps 1/replicas of each
    # rate and burst (docs/security.md, Rate limits), so behind a balancer the limits hold across replicas.
    worker_reports_per_minute: float = 30.0
    worker_report_burst: int = 30
    api_key_requests_per_minute: float = 120.0
    api_key_burst: int = 60
    public_reads_per_minute: float = 60.0
    public_read_burst: int = 30
    replicas: int = Field(default=1, ge=1, le=1000)

    @model_validator(mode="after")
    def _keys_are_usable(self) -> AuthSettings:
        if len(self.signing_key.get_secret_value().encode()) < 32:
            raise ValueError("GRIDLOOP_AUTH_SIGNING_KEY must be at least 32 bytes")
        if not self.resident_keys:
            raise ValueError("GRIDLOOP_AUTH_RESIDENT_KEYS needs at least one key")
        for key in self.resident_keys:
            try:
                usable = len(base64.urlsafe_b64decode(key.get_secret_value().encode())) == 32
            except (binascii.Error, ValueError):
                usable = False
            if not usable:
                raise ValueError("GRIDLOOP_AUTH_RESIDENT_KEYS: each key is a Fernet key (urlsafe base64 of 32 bytes)")
        if len(self.digest_key.get_secret_value().encode()) < 16:
            raise ValueError("GRIDLOOP_AUTH_DIGEST_KEY must be at least 16 bytes")
        return self

    def token_ttl(self, role: str) -> timedelta:
        """How long a credential issued to this role lasts by default."""
        if role == "operator":
            return timedelta(hours=self.operator_token_hours)
        return timedelta(days=self.department_token_days if role == "department" else self.worker_token_days)

    def per_replica(self, per_minute: float, burst: int) -> tuple[float, int]:
        """One process's share of a deployment-wide rate and burst (a burst of at least 1)."""
        return per_minute / self.replicas, max(1, burst // self.replicas)

    def development_secrets(self) -> list[str]:
        """Names of the settings that still hold a published development value."""
        found = []
        if self.signing_key.get_secret_value() == DEV_SIGNING_KEY:
            found.append("signing_key")
        if any(k.get_secret_value() == DEV_RESIDENT_KEY for k in self.resident_keys):
            found.append("resident_keys")
        if self.digest_key.get_secret_value() == DEV_DIGEST_KEY:
            found.append("digest_key")
        return found
