"""Notify's batched handlers on real PostgreSQL: a step that arrives before its case's report waits for the
resident's contact, and is rendered and released when the report arrives; a run of events is applied as one
by one would."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

from gridloop.auth.privacy import ResidentCipher
from gridloop.auth.settings import AuthSettings
from gridloop.contracts.events import CaseReported, CaseStatusChanged, ResidentContact
from gridloop.delivery.consumer import Delivery
from gridloop.delivery.db import Database
from gridloop.servicekit.clock import FixedClock
from services.notify.channels import OutgoingMessage
from services.notify.handlers import on_statuses, remember_residents
from services.notify.settings import NotifySettings
from services.notify.tables import case_steps, messages, outbox
from services.notify.templates import Templates
from services.notify.worker import DeliveryWorker
from tests.support.reports import reported_event

pytestmark = pytest.mark.integration

BASE_URL = "https://gridloop.example/notify"
NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
async def db(ns) -> AsyncIterator[Database]:
    database = Database(ns.database_urls["notify"], outbox=outbox, source="/test/notify-handlers")
    yield database
    # Leave nothing for the namespace's delivery workers in later tests to send.
    async with database.engine.begin() as conn:
        await conn.execute(
            sa.update(messages)
            .where(messages.c.case_id.in_(CASES), messages.c.state == "pending")
            .values(state="skipped")
        )
    await database.dispose()


CASES: list[uuid.UUID] = []  # the cases these tests write


def new_case() -> uuid.UUID:
    CASES.append(case_id := uuid.uuid4())
    return case_id


def templates() -> Templates:
    return Templates.load(NotifySettings().templates_path)


def reported(case_id: uuid.UUID, *, channel: str = "sms", consent: bool = True) -> CaseReported:
    return reported_event(
        case_id=case_id,
        occurred_at=NOW,
        reported_at=NOW,
        resident=ResidentContact(name="王孃孃", phone="13812345678", channel=channel, notify_consent=consent),
        tracking_token=f"tok-{case_id.hex[:12]}",
    )


def step(case_id: uuid.UUID, status: str) -> tuple[CaseStatusChanged, Delivery]:
    event = CaseStatusChanged(case_id=case_id, status=status, at=NOW, actor="test", note="网格员上报已受理")
    return event, Delivery(event_id=uuid.uuid4(), topic="cases.status", time=NOW)


async def apply_statuses(db: Database, items: list[tuple[CaseStatusChanged, Delivery]]) -> None:
    async with db.unit_of_work() as uow:
        await on_statuses(
            items,
            uow,
            templates=templates(),
            public_base_url=BASE_URL,
            clock=FixedClock(NOW),
            feedback_timeout=timedelta(days=7),
        )


async def apply_reported(db: Database, events: list[CaseReported], cipher: ResidentCipher | None = None) -> None:
    cipher = cipher or ResidentCipher.from_settings(AuthSettings())  # the services' own keys
    async with db.unit_of_work() as uow:
        await remember_residents(
            [(e, Delivery(uuid.uuid4(), "cases.reported", NOW)) for e in events],
            uow,
            templates=templates(),
            public_base_url=BASE_URL,
            cipher=cipher,
        )


async def messages_of(db: Database, case_id: uuid.UUID) -> list[sa.Row]:
    async with db.engine.connect() as conn:
        query = sa.select(messages).where(messages.c.case_id == case_id).order_by(messages.c.id)
        return list((await conn.execute(query)).all())


async def test_a_step_before_its_report_waits_for_the_contact_and_is_released_rendered(db: Database) -> None:
    told, declined = new_case(), new_case()
    await apply_statuses(db, [step(told, "received"), step(declined, "received")])
    for case_id in (told, declined):
        (waiting,) = await messages_of(db, case_id)
        assert (waiting.state, waiting.channel, waiting.body) == ("awaiting_contact", "unknown", "")

    await apply_reported(db, [reported(told), reported(declined, consent=False)])

    (released,) = await messages_of(db, told)
    assert (released.state, released.channel) == ("pending", "sms")
    assert released.context["link"] == f"{BASE_URL}/c/tok-{told.hex[:12]}"
    assert released.body and "{" not in released.body
    (skipped,) = await messages_of(db, declined)
    assert (skipped.state, skipped.channel) == ("skipped", "none")


async def test_a_run_of_steps_is_recorded_once_each_with_one_message_per_visible_step(db: Database) -> None:
    case_id = new_case()
    await apply_reported(db, [reported(case_id)])
    run = [step(case_id, "received"), step(case_id, "forwarded"), step(case_id, "sla_warning")]
    await apply_statuses(db, run)
    await apply_statuses(db, run)  # the same events again (a replay): no second step, no second message
    async with db.engine.connect() as conn:
        steps = (await conn.execute(sa.select(case_steps.c.status).where(case_steps.c.case_id == case_id))).scalars()
        assert sorted(steps) == ["forwarded", "received", "sla_warning"]
    sent = await messages_of(db, case_id)
    assert [m.step for m in sent] == ["received", "forwarded"]
    assert all(m.state == "pending" and m.body for m in sent)


class RecordingChannel:
    def __init__(self) -> None:
        self.sent: list[OutgoingMessage] = []

    async def send(self, message: OutgoingMessage) -> str | None:
        self.sent.append(message)
        return f"id-{len(self.sent)}"


async def test_a_message_whose_contact_cannot_be_unsealed_fails_and_the_others_are_still_sent(db: Database) -> None:
    """A contact sealed with a key the service does not hold is a poison row: it is marked failed, and the
    delivery worker goes on with the messages behind it instead of crashing on it for ever."""
    foreign, readable = new_case(), new_case()
    other_deployment = ResidentCipher([Fernet.generate_key().decode()], "another-digest-key!!")
    await apply_reported(db, [reported(foreign)], cipher=other_deployment)
    await apply_reported(db, [reported(readable)])
    await apply_statuses(db, [step(foreign, "received"), step(readable, "received")])

    channel = RecordingChannel()
    worker = DeliveryWorker(
        db,
        {"sms": channel},
        NotifySettings(),
        clock=FixedClock(NOW),
        cipher=ResidentCipher.from_settings(AuthSettings()),
    )
    while await worker.deliver_due(NOW + timedelta(seconds=1)) >= NotifySettings().delivery_batch:
        pass  # other tests' leftovers may be due too

    (failed,) = await messages_of(db, foreign)
    assert failed.state == "failed" and "cannot be unsealed" in failed.last_error
    (sent,) = await messages_of(db, readable)
    assert sent.state == "sent"
    assert [m.case_id for m in channel.sent if m.case_id in {str(foreign), str(readable)}] == [str(readable)]
    assert next(m for m in channel.sent if m.case_id == str(readable)).resident["phone"] == "13812345678"


class SlowChannel:
    """A gateway that takes its time (longer for the first step, as a busy provider might), counts how many sends
    it holds at once and records the order it accepted them in."""

    def __init__(self) -> None:
        self.in_flight = self.most_in_flight = 0
        self.sent: list[tuple[str, str]] = []

    async def send(self, message: OutgoingMessage) -> str | None:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await asyncio.sleep(0.08 if message.step == "received" else 0.02)
        finally:
            self.in_flight -= 1
        self.sent.append((message.case_id, message.step))
        return f"id-{len(self.sent)}"


async def test_a_pass_sends_cases_side_by_side_up_to_the_limit_and_each_case_s_messages_in_order(db: Database) -> None:
    """A slow gateway's round trips are waited out side by side (`delivery_concurrency`), not in turn; a case's
    own messages still go out one after another, so the resident hears 已受理 before 已转派."""
    cases = [new_case() for _ in range(6)]
    await apply_reported(db, [reported(case_id) for case_id in cases])
    await apply_statuses(db, [step(case_id, name) for case_id in cases for name in ("received", "forwarded")])
    channel = SlowChannel()
    settings = NotifySettings(delivery_concurrency=4)
    worker = DeliveryWorker(
        db, {"sms": channel}, settings, clock=FixedClock(NOW), cipher=ResidentCipher.from_settings(AuthSettings())
    )
    while await worker.deliver_due(NOW + timedelta(seconds=1)) >= settings.delivery_batch:
        pass  # other tests' leftovers may be due too
    assert channel.most_in_flight == 4
    for case_id in cases:
        assert [s for c, s in channel.sent if c == str(case_id)] == ["received", "forwarded"]
        assert [(m.step, m.state, m.attempts) for m in await messages_of(db, case_id)] == [
            ("received", "sent", 1),
            ("forwarded", "sent", 1),
        ]
