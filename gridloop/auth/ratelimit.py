"""Token buckets per caller (a worker, an API key), kept in this process.

One replica sees all of a caller's requests only when there is one replica: with N replicas behind a
round-robin balancer a caller gets up to N times the rate (docs/security.md).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from fastapi import HTTPException, status
from prometheus_client import Counter

RATE_LIMITED = Counter("gridloop_rate_limited_total", "Requests refused with 429, by kind of caller", ["kind"])
MAX_BUCKETS = 100_000  # forget the idlest callers beyond this, so random keys cannot grow memory without bound


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """`per_minute` requests a minute on average, up to `burst` at once."""

    def __init__(self, kind: str, per_minute: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        if per_minute <= 0 or burst < 1:
            raise ValueError("a rate limit needs a positive rate and a burst of at least 1")
        self.kind = kind
        self._rate = per_minute / 60.0
        self._burst = float(burst)
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}

    def retry_after(self, key: str) -> float:
        """Take one token for `key`; 0 when allowed, else the seconds until one is available."""
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= MAX_BUCKETS:
                self._forget_full(now)
            bucket = self._buckets[key] = _Bucket(self._burst, now)
        bucket.tokens = min(self._burst, bucket.tokens + (now - bucket.updated) * self._rate)
        bucket.updated = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return 0.0
        return (1 - bucket.tokens) / self._rate

    def check(self, key: str) -> None:
        """Raise 429 with Retry-After (whole seconds, at least 1) when `key` is over its rate."""
        wait = self.retry_after(key)
        if wait > 0:
            RATE_LIMITED.labels(self.kind).inc()
            raise HTTPException(
                status.HTTP_429_TOO_MANY_REQUESTS,
                f"too many requests from this {self.kind}; retry later",
                headers={"Retry-After": str(max(1, math.ceil(wait)))},
            )

    def _forget_full(self, now: float) -> None:
        """Drop buckets that have refilled (their callers are idle); failing that, the oldest half."""
        full = [k for k, b in self._buckets.items() if b.tokens + (now - b.updated) * self._rate >= self._burst]
        victims = full or sorted(self._buckets, key=lambda k: self._buckets[k].updated)[: len(self._buckets) // 2]
        for key in victims:
            del self._buckets[key]
