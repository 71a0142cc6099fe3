"""`gridloop report weekly --week 2026-W49`: the weekly assessment report written to reports/ (HTML, and the summary
page as PDF and PNG), read from the departments database."""

from __future__ import annotations

import argparse
import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from gridloop.delivery.db import Database
from services.departments.settings import get_settings
from services.departments.tables import outbox
from services.departments.weekly import BadWeek, build_weekly, week_label
from services.departments.weekly_render import render, write
from services.departments.working_time import DISTRICT_TZ


def last_week(now: datetime) -> str:
    return week_label(now.astimezone(DISTRICT_TZ) - timedelta(days=7))


async def _weekly(week: str, out: Path, database_url: str) -> list[Path]:
    db = Database(database_url, outbox=outbox, source="/gridloop/departments/report")
    try:
        async with db.engine.connect() as conn:
            report = await build_weekly(conn, week, datetime.now(UTC))
    finally:
        await db.dispose()
    return write(report, render(report), out)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="gridloop report", description="reports for the district leadership")
    sub = parser.add_subparsers(dest="report", required=True)
    weekly = sub.add_parser("weekly", help="三率考核周报: HTML, and the summary page as PDF and PNG")
    weekly.add_argument("--week", help="ISO week, e.g. 2026-W49 (default: last week)")
    weekly.add_argument("--out", type=Path, default=Path("reports"), help="directory (default: reports/)")
    weekly.add_argument("--database-url", help="default: GRIDLOOP_DEPARTMENTS_DATABASE_URL or the local stack's")
    args = parser.parse_args(argv)
    week = args.week or last_week(datetime.now(UTC))
    try:
        paths = asyncio.run(_weekly(week, args.out, args.database_url or get_settings().database_url))
    except BadWeek as exc:
        parser.error(str(exc))
    for path in paths:
        print(path)
    return 0
