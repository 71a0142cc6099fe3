"""The weekly assessment report on a schedule: once an ISO week is over and its publication moment has come (by
default Monday 06:00 Asia/Shanghai of the following week), its report is built as `gridloop report weekly` builds it
(HTML, and the summary page as PDF and PNG), kept in `weekly_reports` and written to the reports directory.

Replica-safe: a replica publishes only while it holds a PostgreSQL advisory lock, and only a week without a row;
the others skip the pass and find the row on their next one. Weeks missed while the service was down are caught up
(every week after the latest published one); a first run publishes only the last closed week.
"""

from __future__ import annotations

import asyncio
import logging
import re
import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from gridloop.delivery.db import Database
from gridloop.servicekit.clock import Clock
from services.departments.metrics import WEEKLY_REPORTS_PUBLISHED
from services.departments.tables import weekly_reports
from services.departments.weekly import build_weekly, week_bounds, week_label
from services.departments.weekly_render import render, write
from services.departments.working_time import DISTRICT_TZ

log = logging.getLogger(__name__)

LOCK_KEY = zlib.crc32(b"departments:weekly-report")  # one publisher at a time across replicas
FILE_NAME = re.compile(r"^weekly-(\d{4}-W\d{2})\.(html|pdf|png)$")
MEDIA_TYPES = {"html": "text/html; charset=utf-8", "pdf": "application/pdf", "png": "image/png"}
Kind = Literal["html", "pdf", "png"]


@dataclass(frozen=True)
class PublishSchedule:
    """When a week's report is published: on `weekday` (1 = Monday … 7 = Sunday) at `hour`, district time, of the
    week after it."""

    weekday: int = 1
    hour: int = 6

    def publish_at(self, week: str) -> datetime:
        _, end = week_bounds(week)
        return end + timedelta(days=self.weekday - 1, hours=self.hour)

    def last_closed_week(self, now: datetime) -> str:
        """The latest week whose publication moment has come: last week, or the week before it."""
        local = now.astimezone(DISTRICT_TZ)
        last_week = week_label(local - timedelta(days=7))
        return last_week if self.publish_at(last_week) <= now else week_label(local - timedelta(days=14))


def weeks_due(latest_published: str | None, now: datetime, schedule: PublishSchedule) -> list[str]:
    """The weeks to publish now, oldest first: every closed week after the latest published one (the weeks missed
    while the service was down), or only the last closed week when nothing was ever published."""
    last = schedule.last_closed_week(now)
    if latest_published is None:
        return [last]
    last_start, _ = week_bounds(last)
    _, cursor = week_bounds(latest_published)  # the Monday after the latest published week
    weeks = []
    while cursor <= last_start:
        weeks.append(week_label(cursor))
        cursor += timedelta(days=7)
    return weeks


class WeeklyPublisher:
    """A periodic task of every replica (Runtime.every): publishes the weeks due, each exactly once."""

    def __init__(self, db: Database, clock: Clock, schedule: PublishSchedule, directory: Path) -> None:
        self.db = db
        self.clock = clock
        self.schedule = schedule
        self.directory = directory

    async def tick(self) -> list[str]:
        """One pass: the weeks this replica published (none if another replica is publishing)."""
        now = self.clock.now()
        async with self.db.engine.connect() as conn:
            latest = await conn.scalar(sa.select(sa.func.max(weekly_reports.c.week)))
        published = []
        for week in weeks_due(latest, now, self.schedule):
            outcome = await self._publish(week, now)
            if outcome == "busy":
                break
            if outcome == "published":
                published.append(week)
        return published

    async def _publish(self, week: str, now: datetime) -> Literal["published", "already", "busy"]:
        async with self.db.engine.connect() as conn, conn.begin():
            if not await conn.scalar(sa.select(sa.func.pg_try_advisory_xact_lock(LOCK_KEY))):
                return "busy"  # another replica is publishing; its row will be there on the next pass
            found = sa.select(weekly_reports.c.week).where(weekly_reports.c.week == week)
            if await conn.scalar(found) is not None:
                return "already"
            report = await build_weekly(conn, week, now)
            rendered = await asyncio.to_thread(render, report)  # matplotlib: CPU work off the event loop
            paths = await asyncio.to_thread(write, report, rendered, self.directory)
            row = {
                "week": week,
                "built_at": now,
                "paths": [str(path) for path in paths],
                "html": rendered.html.encode(),
                "pdf": rendered.summary_pdf,
                "png": rendered.summary_png,
            }
            await conn.execute(insert(weekly_reports).values(row).on_conflict_do_nothing(index_elements=["week"]))
        WEEKLY_REPORTS_PUBLISHED.inc()
        log.info("weekly report %s published to %s", week, self.directory)
        return "published"


@dataclass(frozen=True)
class PublishedFile:
    name: str
    kind: Kind
    size: int


@dataclass(frozen=True)
class PublishedWeek:
    week: str
    built_at: datetime
    paths: list[str]
    files: list[PublishedFile]


async def list_published(conn: AsyncConnection) -> list[PublishedWeek]:
    """The published reports, newest week first (sizes only, not the files)."""
    kinds: tuple[Kind, ...] = ("html", "pdf", "png")
    sizes = [sa.func.octet_length(weekly_reports.c[kind]).label(kind) for kind in kinds]
    query = sa.select(weekly_reports.c.week, weekly_reports.c.built_at, weekly_reports.c.paths, *sizes)
    rows = (await conn.execute(query.order_by(weekly_reports.c.week.desc()))).all()
    return [
        PublishedWeek(
            week=row.week,
            built_at=row.built_at,
            paths=row.paths,
            files=[PublishedFile(f"weekly-{row.week}.{kind}", kind, getattr(row, kind)) for kind in kinds],
        )
        for row in rows
    ]


async def published_file(conn: AsyncConnection, name: str) -> tuple[bytes, str] | None:
    """A published file by its name in the reports directory (weekly-2026-W49.pdf): its bytes and media type."""
    found = FILE_NAME.match(name)
    if not found:
        return None
    week, kind = found[1], found[2]
    query = sa.select(weekly_reports.c[kind]).where(weekly_reports.c.week == week)
    content = await conn.scalar(query)
    return None if content is None else (bytes(content), MEDIA_TYPES[kind])
