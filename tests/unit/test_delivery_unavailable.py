"""A database that is restarting is an outage to wait out, never a reason to dead-letter a message."""

from __future__ import annotations

import asyncpg
import pytest
import sqlalchemy as sa

from gridloop.delivery.db import is_unavailable, loopback_without_tls


def wrapped(driver_error: Exception) -> sa.exc.DBAPIError:
    """As SQLAlchemy's asyncpg dialect raises it: a DBAPIError caused by the driver's exception."""
    error = sa.exc.DBAPIError("connect", None, Exception(str(driver_error)))
    error.__cause__ = driver_error
    return error


@pytest.mark.parametrize(
    "driver_error",
    [
        asyncpg.exceptions.CannotConnectNowError("the database system is shutting down"),
        asyncpg.exceptions.CannotConnectNowError("the database system is starting up"),
        asyncpg.exceptions.AdminShutdownError("terminating connection due to administrator command"),
        asyncpg.exceptions.TooManyConnectionsError("sorry, too many clients already"),
        asyncpg.exceptions.DeadlockDetectedError("deadlock detected"),
        asyncpg.exceptions.SerializationError("could not serialize access due to concurrent update"),
    ],
)
def test_a_restarting_database_or_a_transient_conflict_counts_as_unavailable(driver_error: Exception) -> None:
    assert is_unavailable(wrapped(driver_error))


def test_a_constraint_violation_is_a_real_error() -> None:
    assert not is_unavailable(wrapped(asyncpg.exceptions.UniqueViolationError("duplicate key")))


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql+asyncpg://u:p@127.0.0.1:5432/db", {"ssl": False}),
        ("postgresql+asyncpg://u:p@localhost/db", {"ssl": False}),
        ("postgresql+asyncpg://u:p@127.0.0.1:5432/db?ssl=require", {}),
        ("postgresql+asyncpg://u:p@127.0.0.1:5432/db?sslmode=verify-full", {}),
        ("postgresql+asyncpg://u:p@db.internal:5432/db", {}),
    ],
)
def test_tls_is_left_out_on_loopback_only_unless_the_url_asks(url: str, expected: dict) -> None:
    assert loopback_without_tls(url) == expected
