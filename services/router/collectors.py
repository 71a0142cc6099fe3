"""Router gauges read from its database, refreshed in the background (a scrape never waits for a query)."""

from __future__ import annotations

import asyncio
import logging

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import distinct_on

from gridloop.delivery.db import Database
from services.router import metrics
from services.router.tables import decisions

log = logging.getLogger(__name__)
REFRESH_SECONDS = 5.0


async def triage_queue_size(db: Database) -> int:
    latest = (
        sa.select(decisions.c.outcome)
        .ext(distinct_on(decisions.c.case_id))
        .order_by(decisions.c.case_id, decisions.c.round.desc())
        .subquery()
    )
    async with db.engine.connect() as conn:
        return int(await conn.scalar(sa.select(sa.func.count()).where(latest.c.outcome == "triage")) or 0)


async def refresh_gauges(db: Database, interval: float = REFRESH_SECONDS) -> None:
    """Keep the database-derived gauges current; a failed query keeps the last value and is retried."""
    while True:
        try:
            metrics.TRIAGE_QUEUE.set(await triage_queue_size(db))
        except Exception as exc:  # the database is down: the relay and consumers report that already
            log.warning("router gauges not refreshed: %s", exc)
        await asyncio.sleep(interval)
