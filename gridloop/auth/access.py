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
    public_read_limit: RateLimiter  # Open311 reads per API key or client address

    @classmethod
    def from_settings(cls, settings: AuthSettings) -> AccessControl:
        """Each limiter holds this replica's share of the deployment's budget (`AuthSettings.replicas`)."""
        share = settings.per_replica
        return cls(
            tokens=TokenIssuer(settings.signing_key.get_secret_value()),
            worker_limit=RateLimiter(
                "worker", *share(settings.worker_reports_per_minute, settings.worker_report_burst)
            ),
            api_key_limit=RateLimiter("api_key", *share(settings.api_key_requests_per_minute, settings.api_key_burst)),
            public_read_limit=RateLimiter(
                "public_read", *share(settings.public_reads_per_minute, settings.public_read_burst)
            ),
        )
