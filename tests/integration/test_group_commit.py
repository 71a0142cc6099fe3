"""Group commit on the real PostgreSQL: what waits together is written in one transaction, a repeated key waits
for the next group, one bad item fails alone, and an unreachable database fails the whole group."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from gridloop.contracts.events import CaseStatusChanged
from gridloop.contracts.topics import CASES_STATUS
from gridloop.delivery.db import Database, UnitOfWork
from gridloop.delivery.group_commit import GroupCommit
from services.intake.tables import outbox

pytestmark = pytest.mark.integration


@pytest.fixture
async def db(ns) -> AsyncIterator[Database]:
    async with ns.database("intake", "/test/group-commit") as database:
        yield database


class Recorder:
    """An `apply` that publishes one status event per item (`key`, `note`) and remembers each group it saw;
    `fail_on` makes any group holding that note raise `error`."""

    def __init__(self, fail_on: str | None = None, error: Exception | None = None) -> None:
        self.groups: list[list[str]] = []
        self.fail_on, self.error = fail_on, error

    async def __call__(self, items: list[tuple[str, str]], uow: UnitOfWork) -> list[uuid.UUID]:
        self.groups.append([note for _, note in items])
        ids = []
        for _key, note in items:
            event_id = uuid.uuid4()
            event = CaseStatusChanged(
                case_id=uuid.uuid4(), status="in_progress", at=datetime.now(UTC), actor="t", note=note
            )
            await uow.publish(event, CASES_STATUS, event_id=event_id)
            ids.append(event_id)
        if self.fail_on in [note for _, note in items]:
            raise self.error or ValueError(self.fail_on)
        return ids


async def stored(db: Database, ids: list[uuid.UUID]) -> set[uuid.UUID]:
    async with db.engine.connect() as conn:
        return set((await conn.execute(sa.select(outbox.c.event_id).where(outbox.c.event_id.in_(ids)))).scalars())


def group_commit(db: Database, apply: Recorder, **kw) -> GroupCommit:
    return GroupCommit(db, apply, key=lambda item: item[0], name="test", **kw)


async def test_items_waiting_together_are_committed_in_one_transaction_each_with_its_own_result(db) -> None:
    apply = Recorder()
    group = group_commit(db, apply, writers=1)
    first = await group.submit(("a", "alone"))  # nobody else waiting: written at once, alone
    results = await asyncio.gather(*(group.submit((f"k{n}", f"n{n}")) for n in range(20)))
    assert apply.groups == [["alone"], [f"n{n}" for n in range(20)]]
    assert len(set(results)) == 20 and first not in results
    assert await stored(db, [first, *results]) == {first, *results}


async def test_groups_are_capped_and_a_repeated_key_waits_for_the_next_group(db) -> None:
    apply = Recorder()
    group = group_commit(db, apply, writers=1, max_group=4)
    items = [("x", "x1"), ("y", "y1"), ("x", "x2"), ("z", "z1"), ("w", "w1"), ("v", "v1"), ("x", "x3")]
    await asyncio.gather(*(group.submit(item) for item in items))
    # "x2" and "x3" each wait for a group without an "x"; the order of arrival is kept otherwise.
    assert apply.groups == [["x1", "y1", "z1", "w1"], ["x2", "v1"], ["x3"]]


async def test_one_bad_item_fails_alone_and_the_others_of_its_group_are_committed(db) -> None:
    apply = Recorder(fail_on="bad")
    group = group_commit(db, apply, writers=1)
    outcomes = await asyncio.gather(
        *(group.submit((note, note)) for note in ["g1", "bad", "g2", "g3"]), return_exceptions=True
    )
    assert isinstance(outcomes[1], ValueError)
    good = [outcomes[0], outcomes[2], outcomes[3]]
    assert all(isinstance(result, uuid.UUID) for result in good)
    assert await stored(db, good) == set(good)
    # The group failed, then each item was written on its own.
    assert apply.groups == [["g1", "bad", "g2", "g3"], ["g1"], ["bad"], ["g2"], ["g3"]]


async def test_an_unreachable_database_fails_the_whole_group_at_once_and_writes_nothing(db) -> None:
    notes = [f"down-{n}" for n in range(4)]
    apply = Recorder(fail_on="down-2", error=ConnectionRefusedError("database down"))
    group = group_commit(db, apply, writers=1)
    outcomes = await asyncio.gather(*(group.submit((note, note)) for note in notes), return_exceptions=True)
    assert all(isinstance(outcome, ConnectionRefusedError) for outcome in outcomes)
    assert apply.groups == [notes]  # not retried one by one: each caller answers 503
    await group.submit(("after", "down-after"))  # and the next group goes through
    async with db.engine.connect() as conn:
        note = outbox.c.payload["note"].astext
        assert (await conn.execute(sa.select(note).where(note.like("down-%")))).scalars().all() == ["down-after"]


async def test_a_caller_that_goes_away_does_not_take_its_item_out_of_the_group(db) -> None:
    apply = Recorder()
    group = group_commit(db, apply, writers=1)
    left = asyncio.create_task(group.submit(("gone", "gone")))
    stays = asyncio.create_task(group.submit(("stays", "stays")))
    await asyncio.sleep(0)  # both submitted, the write not yet done
    left.cancel()
    await stays
    assert apply.groups == [["gone", "stays"]]
    with pytest.raises(asyncio.CancelledError):
        await left
