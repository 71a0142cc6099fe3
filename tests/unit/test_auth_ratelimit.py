"""Token buckets: a burst, then the average rate, and a Retry-After that says when."""

from __future__ import annotations

import pytest
from fastapi import HTTPException

from gridloop.auth import ratelimit
from gridloop.auth.ratelimit import RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_is_allowed_then_the_caller_waits_for_the_next_token() -> None:
    clock = Clock()
    limiter = RateLimiter("worker", per_minute=6, burst=3, clock=clock)
    assert [limiter.retry_after("w1") for _ in range(3)] == [0, 0, 0]
    assert limiter.retry_after("w1") == pytest.approx(10.0)
    assert limiter.retry_after("w2") == 0, "each caller has its own bucket"
    clock.now = 10.0
    assert limiter.retry_after("w1") == 0


def test_over_the_rate_is_429_with_retry_after_in_whole_seconds() -> None:
    limiter = RateLimiter("api_key", per_minute=60, burst=1, clock=Clock())
    limiter.check("k")
    with pytest.raises(HTTPException) as refused:
        limiter.check("k")
    assert refused.value.status_code == 429 and refused.value.headers == {"Retry-After": "1"}


def test_buckets_of_idle_callers_are_forgotten_when_there_are_too_many(monkeypatch) -> None:
    monkeypatch.setattr(ratelimit, "MAX_BUCKETS", 10)
    clock = Clock()
    limiter = RateLimiter("worker", per_minute=60, burst=5, clock=clock)
    for n in range(10):
        limiter.retry_after(f"w{n}")
    clock.now = 100.0
    limiter.retry_after("new")
    assert len(limiter._buckets) <= 10


def test_a_limit_needs_a_rate_and_a_burst() -> None:
    with pytest.raises(ValueError):
        RateLimiter("worker", per_minute=0, burst=1)
