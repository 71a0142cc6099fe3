"""The statements every unit of work and every poll run are compiled once and then served from SQLAlchemy's cache.

A multi-row `.values([...])` INSERT has no cache key and was compiled on every outbox flush and inbox claim in all
four services (found by profiling the departments service); rows are now passed as parameters."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.engine.default import CacheStats

from gridloop.contracts.events import CaseStatusChanged
from gridloop.contracts.topics import CASES_STATUS
from gridloop.delivery.db import Database, claim_inbox
from services.intake.tables import inbox

pytestmark = pytest.mark.integration


@pytest.fixture
async def db(ns) -> AsyncIterator[Database]:
    async with ns.database("intake", "/test/statements") as database:
        yield database


def status(note: str) -> CaseStatusChanged:
    return CaseStatusChanged(case_id=uuid.uuid4(), status="in_progress", at=datetime.now(UTC), actor="t", note=note)


async def test_outbox_flushes_and_inbox_claims_of_any_size_are_served_from_the_statement_cache(db: Database) -> None:
    seen: list[tuple[str, CacheStats]] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:
        seen.append((statement.split("(")[0].strip(), context.cache_hit))

    sa.event.listen(db.engine.sync_engine, "before_cursor_execute", record)
    for size in (1, 3, 2, 5, 3):
        async with db.unit_of_work() as uow:
            for n in range(size):
                await uow.publish(status(f"{size}-{n}"), CASES_STATUS, event_id=uuid.uuid4())
            ids = [(uuid.uuid4(), CASES_STATUS) for _ in range(size)]
            assert await claim_inbox(uow, inbox, group="test-statements", events=ids) == {i for i, _ in ids}

    ours = [(sql, hit) for sql, hit in seen if sql in ("INSERT INTO outbox", "INSERT INTO inbox")]
    assert len(ours) == 10
    assert CacheStats.NO_CACHE_KEY not in {hit for _, hit in ours}
    # Compiled once for one row and once for several (the first two units of work), then always cached.
    assert [hit for _, hit in ours[4:]] == [CacheStats.CACHE_HIT] * 6
