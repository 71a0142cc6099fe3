"""Bearer headers for any role, minted with the configured signing key and cached: for the demo, the chaos
run and tests, which hold the (development) key. Real clients get their token from an operator instead."""

from __future__ import annotations

from datetime import timedelta

from gridloop.auth.settings import AuthSettings
from gridloop.auth.tokens import TokenIssuer


class Credentials:
    def __init__(self, settings: AuthSettings | None = None, *, ttl: timedelta = timedelta(days=1)) -> None:
        self._issuer = TokenIssuer((settings or AuthSettings()).signing_key.get_secret_value())
        self._ttl = ttl
        self._cache: dict[tuple[str, str], dict[str, str]] = {}

    def headers(self, role: str, subject: str) -> dict[str, str]:
        key = (role, subject)
        if key not in self._cache:
            token = self._issuer.issue(role=role, subject=subject, ttl=self._ttl).token
            self._cache[key] = {"Authorization": f"Bearer {token}"}
        return self._cache[key]

    def worker(self, worker_id: str) -> dict[str, str]:
        return self.headers("worker", worker_id)

    def department(self, department: str) -> dict[str, str]:
        return self.headers("department", department)

    def operator(self, name: str = "值班员") -> dict[str, str]:
        return self.headers("operator", name)
