"""Time as a dependency: handlers, routes and background loops ask a `Clock` for "now", so tests can move it.

A clock tells the time; a deadline is a moment something is due (departments' SLA deadlines). Pipeline latency
(seconds since an event was reported) is wall-clock time by nature and does not ask a clock.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current moment, timezone-aware (UTC)."""
        ...


class SystemClock:
    """The machine's time: what every service runs on."""

    def now(self) -> datetime:
        return datetime.now(UTC)


SYSTEM_CLOCK = SystemClock()


class FixedClock:
    """A clock that stands still until a test sets or advances it."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime.now(UTC)

    def now(self) -> datetime:
        return self._now

    def set(self, when: datetime) -> None:
        self._now = when

    def advance(self, delta: timedelta) -> datetime:
        self._now += delta
        return self._now


class ShiftedClock:
    """The machine's time shifted by an offset a test sets: time still flows (timeouts, backoff), from a moment
    the test chooses (23:00 for quiet hours, a week later for a feedback timeout)."""

    def __init__(self, start: datetime | None = None) -> None:
        self._offset = (start - datetime.now(UTC)) if start else timedelta()

    def now(self) -> datetime:
        return datetime.now(UTC) + self._offset

    def set(self, when: datetime) -> None:
        self._offset = when - datetime.now(UTC)

    def advance(self, delta: timedelta) -> None:
        self._offset += delta
