"""The weekly report on a schedule, on the real PostgreSQL with a clock the test moves: a closed week is published
once even with two replicas racing, a week not yet over is not, missed weeks are caught up, and departments serves
the very files it wrote."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from gridloop.delivery.db import Database
from gridloop.servicekit.clock import FixedClock
from services.departments import handlers
from services.departments.publishing import LOCK_KEY, PublishSchedule, WeeklyPublisher
from services.departments.tables import outbox, weekly_reports
from services.departments.working_time import DISTRICT_TZ, Deadlines
from tests.support.departments import OPERATOR, as_department, departments_app, dispatched
from tests.support.polling import wait_for

pytestmark = pytest.mark.integration

# 2022-W10 is Monday 2022-03-07 to Sunday 2022-03-13 (no other test's cases); published Monday 03-14 06:00.
WEEK = "2022-W10"
FILES = [f"weekly-{WEEK}.{kind}" for kind in ("html", "pdf", "png")]


def local(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=DISTRICT_TZ)


@pytest.fixture(scope="module")
async def db(ns):
    database = Database(ns.database_urls["departments"], outbox=outbox, source="/gridloop/departments")
    async with database.unit_of_work() as uow:  # a case in the week, so that its report has something to say
        event = dispatched("S03", dispatched_at=local("2022-03-08T09:00"))
        await handlers.receive_dispatches([(event, None)], uow, deadlines=Deadlines(working=False))  # type: ignore[list-item]
    yield database
    await database.dispose()


@pytest.fixture(autouse=True)
async def nothing_published(db):
    """Only this module publishes; each test starts from a district that never published a report."""
    async with db.engine.begin() as conn:
        await conn.execute(sa.delete(weekly_reports))


async def published(db: Database) -> dict[str, dict[str, bytes]]:
    async with db.engine.connect() as conn:
        rows = (await conn.execute(sa.select(weekly_reports))).all()
    return {row.week: {"html": row.html, "pdf": row.pdf, "png": row.png} for row in rows}


def publisher(db: Database, clock: FixedClock, directory: Path) -> WeeklyPublisher:
    return WeeklyPublisher(db, clock, PublishSchedule(weekday=1, hour=6), directory)


async def test_a_closed_week_is_published_once_even_with_two_replicas_racing(db, tmp_path):
    clock = FixedClock(local("2022-03-14T06:00"))
    first, second = publisher(db, clock, tmp_path / "a"), publisher(db, clock, tmp_path / "b")  # two pods' disks

    outcomes = await asyncio.gather(first.tick(), second.tick())

    assert sorted(outcomes) == [[], [WEEK]]
    rows = await published(db)
    assert list(rows) == [WEEK]
    winner = tmp_path / ("a" if outcomes[0] else "b")
    assert sorted(p.name for p in winner.iterdir()) == FILES  # no partial file left behind
    assert not (tmp_path / ("b" if outcomes[0] else "a")).exists()
    assert (winner / FILES[1]).read_bytes() == rows[WEEK]["pdf"]
    assert rows[WEEK]["pdf"].startswith(b"%PDF") and rows[WEEK]["png"].startswith(b"\x89PNG")
    assert WEEK in rows[WEEK]["html"].decode()

    clock.advance(timedelta(hours=1))  # an hour later both look again: nothing new
    assert await asyncio.gather(first.tick(), second.tick()) == [[], []]
    assert list(await published(db)) == [WEEK]


async def test_a_replica_that_finds_another_publishing_skips_the_pass_and_publishes_nothing(db, tmp_path):
    clock = FixedClock(local("2022-03-14T06:00"))
    async with db.engine.connect() as other_replica:
        await other_replica.execute(sa.select(sa.func.pg_advisory_lock(LOCK_KEY)))
        assert await publisher(db, clock, tmp_path).tick() == []
        await other_replica.execute(sa.select(sa.func.pg_advisory_unlock(LOCK_KEY)))
    assert await published(db) == {}
    assert not tmp_path.joinpath(FILES[0]).exists()
    assert await publisher(db, clock, tmp_path).tick() == [WEEK]


async def test_a_week_not_yet_over_is_not_published(db, tmp_path):
    clock = FixedClock(local("2022-03-13T23:59"))  # the last minute of the week
    replica = publisher(db, clock, tmp_path)

    assert await replica.tick() == ["2022-W09"]  # a first run: the last closed week only
    clock.set(local("2022-03-14T05:59"))  # over, but not yet the publication moment
    assert await replica.tick() == []
    assert sorted(await published(db)) == ["2022-W09"]
    assert not tmp_path.joinpath(FILES[0]).exists()

    clock.set(local("2022-03-14T06:00"))
    assert await replica.tick() == [WEEK]
    assert sorted(await published(db)) == ["2022-W09", WEEK]


async def test_weeks_missed_while_the_service_was_down_are_caught_up_and_rerunning_adds_nothing(db, tmp_path):
    clock = FixedClock(local("2022-03-14T06:00"))
    replica = publisher(db, clock, tmp_path)
    assert await replica.tick() == [WEEK]

    clock.set(local("2022-03-28T07:30"))  # down for two weeks
    assert await replica.tick() == ["2022-W11", "2022-W12"]
    assert await replica.tick() == []
    assert sorted(await published(db)) == [WEEK, "2022-W11", "2022-W12"]
    assert len(list(tmp_path.glob("weekly-*"))) == 9


async def test_the_service_publishes_on_its_own_and_serves_the_files_it_wrote(ns, db, tmp_path):
    clock = FixedClock(local("2022-03-14T06:00"))
    settings = {"publish_weekly_reports": True, "weekly_report_dir": tmp_path, "weekly_report_check_seconds": 0.05}
    async with departments_app(ns, clock, **settings) as client:

        async def listed() -> list[dict]:
            return (await client.get("/v1/reports/weekly", headers=OPERATOR)).json()

        reports = await wait_for(listed, timeout=60, what="the scheduled weekly report")
        assert [r["week"] for r in reports] == [WEEK]
        assert [f["name"] for f in reports[0]["files"]] == FILES
        assert reports[0]["paths"] == [str(tmp_path / name) for name in FILES]
        assert datetime.fromisoformat(reports[0]["built_at"]) == clock.now()
        for file in reports[0]["files"]:
            served = await client.get(file["url"], headers=OPERATOR)
            assert served.status_code == 200
            assert served.headers["content-type"] == file["media_type"]
            assert served.content == (tmp_path / file["name"]).read_bytes()
            assert len(served.content) == file["size"]
        assert "三率考核周报" in (await client.get(f"/v1/reports/files/weekly-{WEEK}.html", headers=OPERATOR)).text

        assert (await client.get("/v1/reports/weekly", headers=as_department("police"))).status_code == 403
        assert (await client.get(f"/v1/reports/files/{FILES[1]}", headers=as_department("police"))).status_code == 403
        assert (await client.get("/v1/reports/files/weekly-2022-W20.pdf", headers=OPERATOR)).status_code == 404
        assert (await client.get("/v1/reports/files/weekly-2022-W10.exe", headers=OPERATOR)).status_code == 422
