"""`Runtime.every`'s one error policy: a failed pass is counted and logged once, and the loop goes on."""

from __future__ import annotations

import asyncio
import logging

import pytest

from gridloop.servicekit.runtime import BACKGROUND_ERRORS, every


async def test_a_failing_pass_is_counted_and_logged_once_and_the_next_pass_still_comes(caplog) -> None:
    outcomes: list[BaseException | None] = [RuntimeError("db down"), RuntimeError("db down"), None, None]
    passes = 0

    async def step() -> None:
        nonlocal passes
        passes += 1
        if passes > len(outcomes):
            raise asyncio.CancelledError  # the service stops
        if (outcome := outcomes[passes - 1]) is not None:
            raise outcome

    before = BACKGROUND_ERRORS.labels("test-every")._value.get()
    with caplog.at_level(logging.INFO, logger="gridloop.servicekit.runtime"), pytest.raises(asyncio.CancelledError):
        await every(0, step, "test-every", service="svc")
    assert passes == 5, "the loop kept going after the failures"
    assert BACKGROUND_ERRORS.labels("test-every")._value.get() - before == 2
    failures = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [r.getMessage() for r in failures] == [
        "svc task test-every failed (1 in a row): RuntimeError: db down; next pass in 0s",
        "svc task test-every failed (2 in a row): RuntimeError: db down; next pass in 0s",
    ]
    assert [bool(r.exc_info) for r in failures] == [True, False], "the traceback once, not every pass"
    assert any("works again after 2 failed passes" in r.getMessage() for r in caplog.records)
