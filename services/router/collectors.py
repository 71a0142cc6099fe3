"""Router gauges read from its database, refreshed in the background (a scrape never waits for a query)."""

from __future__ import annotations

import logging

import sqlalchemy as sa

from gridloop.delivery.db import Database
from services.router import metrics
from services.router.triage import open_triage

log = logging.getLogger(__name__)
REFRESH_SECONDS = 5.0


async def triage_queue_size(db: Database) -> int:
    async with db.engine.connect() as conn:
        return int(await conn.scalar(sa.select(sa.func.count()).select_from(open_triage())) or 0)


async def refresh_gauges(db: Database) -> None:
    """The database-derived gauges made current (every REFRESH_SECONDS); a failed pass keeps the last value."""
    metrics.TRIAGE_QUEUE.set(await triage_queue_size(db))
