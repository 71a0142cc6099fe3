"""What an app needs to check callers, built once from settings (no I/O): `app.state.auth`."""

from __future__ import annotations

from dataclasses import dataclass

from gridloop.auth.ratelimit import RateLimiter
from gridloop.auth.settings import AuthSettings
from gridloop.auth.tokens import TokenIssuer


@dataclass
class AccessControl:
    tokens: TokenIssuer
    worker_limit: RateLimiter  # reports per worker
    api_key_limit: RateLimiter  # Open311 posts per API key

    @classmethod
    def from_settings(cls, settings: AuthSettings) -> AccessControl:
        return cls(
            tokens=TokenIssuer(settings.signing_key.get_secret_value()),
            worker_limit=RateLimiter("worker", settings.worker_reports_per_minute, settings.worker_report_burst),
            api_key_limit=RateLimiter("api_key", settings.api_key_requests_per_minute, settings.api_key_burst),
        )
