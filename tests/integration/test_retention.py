"""Retention jobs on real databases: old inbox and audit rows go in batches, residents' contacts are erased
180 days after their case closed while the case and its statistics stay, and only one run works at a time."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import pytest

from gridloop.ops.retention import LOCK_KEY, RetentionPolicy, run_retention
from tests.support.apps import build_apps, started
from tests.support.auth import ActingAsCaller
from tests.support.namespace import Namespace

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC)
OLD, RECENT = NOW - timedelta(days=200), NOW - timedelta(days=10)
SEALED = {"name": "gAAAA-name", "phone": "gAAAA-phone", "email": None, "channel": "sms", "notify_consent": True}


async def connect(ns: Namespace, service: str) -> asyncpg.Connection:
    return await asyncpg.connect(ns.database_urls[service].replace("postgresql+asyncpg://", "postgresql://"))


async def test_old_inbox_and_audit_rows_go_in_batches_and_recent_ones_stay(ns: Namespace) -> None:
    conn = await connect(ns, "router")
    group = f"retention-{uuid.uuid4().hex[:8]}"
    try:
        for processed_at in [OLD] * 5 + [RECENT] * 2:
            await conn.execute(
                "INSERT INTO inbox (consumer_group, event_id, topic, processed_at) VALUES ($1, $2, 't', $3)",
                group,
                uuid.uuid4(),
                processed_at,
            )
        actor = f"operator:{group}"
        for at in (NOW - timedelta(days=400), NOW - timedelta(days=100)):
            await conn.execute(
                "INSERT INTO audit_log (at, actor, role, action) VALUES ($1, $2, 'operator', 'read')", at, actor
            )

        results = await run_retention("router", ns.database_urls["router"], RetentionPolicy(batch_size=2))

        assert results is not None
        inbox = next(r for r in results if r.job == "inbox")
        assert inbox.rows >= 5 and inbox.batches >= 3  # 2 + 2 + 1 rows: batches of at most batch_size
        remaining = await conn.fetch("SELECT processed_at FROM inbox WHERE consumer_group = $1", group)
        assert [r["processed_at"] for r in remaining] == [RECENT, RECENT]
        audit = await conn.fetch("SELECT at FROM audit_log WHERE actor = $1", actor)
        assert [r["at"] for r in audit] == [NOW - timedelta(days=100)]
    finally:
        await conn.close()


async def test_contacts_are_erased_180_days_after_the_case_closed_and_the_case_stays(ns: Namespace, tmp_path) -> None:
    closed_long_ago, closed_lately, open_case = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    conn = await connect(ns, "intake")
    try:
        for case_id, status, updated_at in (
            (closed_long_ago, "closed", OLD),
            (closed_lately, "resolved", RECENT),
            (open_case, "signed", OLD),  # old, but still open: the department may need to call
        ):
            await conn.execute(
                "INSERT INTO cases (case_id, client_report_id, tracking_token, worker_id, grid_id, community_id, "
                "description, occurred_at, reported_at, photo_urls, resident, status, updated_at) VALUES "
                "($1, $2, $3, 'W', 'G', 'C', '路灯不亮', $4, $4, '[]', $5, $6, $7)",
                case_id,
                uuid.uuid4(),
                uuid.uuid4().hex,
                OLD - timedelta(days=30),
                json.dumps({**SEALED, "sealed": True}),
                status,
                updated_at,
            )

        results = await run_retention("intake", ns.database_urls["intake"], RetentionPolicy())

        assert results is not None and next(r for r in results if r.job == "personal_data").rows >= 1
        rows = {
            r["case_id"]: (json.loads(r["resident"]), r["status"], r["description"])
            for r in await conn.fetch(
                "SELECT case_id, resident, status, description FROM cases WHERE case_id = ANY($1)",
                [closed_long_ago, closed_lately, open_case],
            )
        }
        erased, status, description = rows[closed_long_ago]
        assert (erased["name"], erased["phone"], erased["email"]) == (None, None, None)
        assert erased["erased_at"] and erased["channel"] == "sms"  # how it was told stays, for the statistics
        assert (status, description) == ("closed", "路灯不亮")
        assert rows[closed_lately][0]["name"] == "gAAAA-name"
        assert rows[open_case][0]["name"] == "gAAAA-name"
    finally:
        await conn.close()

    # An operator who asks for the erased contact is told it is gone (and the asking is audited), not a 500.
    intake = build_apps(ns, notify_log=tmp_path / "messages.jsonl")["intake"]
    async with (
        started(intake),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=intake), base_url="http://intake", auth=ActingAsCaller()
        ) as client,
    ):
        response = await client.get(f"/v1/cases/{closed_long_ago}/resident")
    assert response.status_code == 410, response.text


async def test_notify_forgets_the_contact_its_digest_and_the_message_texts_of_a_long_closed_case(
    ns: Namespace,
) -> None:
    closed, reopened = uuid.uuid4(), uuid.uuid4()
    conn = await connect(ns, "notify")
    try:
        for case_id in (closed, reopened):
            await conn.execute(
                "INSERT INTO recipients (case_id, tracking_token, resident, phone_digest, created_at) "
                "VALUES ($1, $2, $3, 'digest', $4)",
                case_id,
                uuid.uuid4().hex,
                json.dumps({**SEALED, "sealed": True}),
                OLD,
            )
            await conn.execute(
                "INSERT INTO case_steps (event_id, case_id, status, at, actor, note, detail) "
                "VALUES ($1, $2, 'closed', $3, 'notify', '', '{}')",
                uuid.uuid4(),
                case_id,
                OLD,
            )
            await conn.execute(
                "INSERT INTO messages (idempotency_key, case_id, step, channel, body, context, state, "
                "next_attempt_at, created_at) VALUES ($1, $2, 'received', 'sms', '张先生您好', $3, 'sent', $4, $4)",
                uuid.uuid4(),
                case_id,
                json.dumps({"name": "张先生"}),
                OLD,
            )
        await conn.execute(  # the resident was not satisfied lately: the case lives again, the contact is needed
            "INSERT INTO case_steps (event_id, case_id, status, at, actor, note, detail) "
            "VALUES ($1, $2, 'reopened', $3, 'notify', '', '{}')",
            uuid.uuid4(),
            reopened,
            RECENT,
        )

        assert await run_retention("notify", ns.database_urls["notify"], RetentionPolicy()) is not None

        recipient = await conn.fetchrow("SELECT resident, phone_digest FROM recipients WHERE case_id = $1", closed)
        assert json.loads(recipient["resident"])["phone"] is None and recipient["phone_digest"] is None
        message = await conn.fetchrow("SELECT body, context, step, state FROM messages WHERE case_id = $1", closed)
        assert (message["body"], json.loads(message["context"])) == ("", {})
        assert (message["step"], message["state"]) == ("received", "sent")  # the statistics keep their rows
        kept = await conn.fetchrow("SELECT resident, phone_digest FROM recipients WHERE case_id = $1", reopened)
        assert json.loads(kept["resident"])["phone"] == "gAAAA-phone" and kept["phone_digest"] == "digest"
    finally:
        await conn.close()


async def test_a_second_run_while_one_holds_the_lock_does_nothing(ns: Namespace) -> None:
    holder = await connect(ns, "departments")
    try:
        assert await holder.fetchval("SELECT pg_try_advisory_lock(hashtext($1))", LOCK_KEY)
        assert await run_retention("departments", ns.database_urls["departments"], RetentionPolicy()) is None
        await holder.execute("SELECT pg_advisory_unlock(hashtext($1))", LOCK_KEY)
        assert await run_retention("departments", ns.database_urls["departments"], RetentionPolicy()) is not None
    finally:
        await holder.close()


async def test_departments_and_the_router_forget_their_copies_of_the_contact(ns: Namespace) -> None:
    resolved_long_ago, resolved_lately = uuid.uuid4(), uuid.uuid4()
    departments = await connect(ns, "departments")
    router = await connect(ns, "router")
    try:
        for case_id, resolved_at in ((resolved_long_ago, OLD), (resolved_lately, RECENT)):
            await departments.execute(
                "INSERT INTO work_items (case_id, department, item_code, item_name_zh, status, description, grid_id, "
                "community_id, resident_name_masked, resident_phone_masked, dispatch_no, dispatched_at, "
                "sign_deadline, resolve_deadline, resolved_at, updated_at) VALUES ($1, 'urban', 'X', '路灯', "
                "'resolved', '路灯不亮', 'G', 'C', '张*', '138****1234', 1, $2, $2, $2, $3, $3)",
                case_id,
                resolved_at - timedelta(days=3),
                resolved_at,
            )
            reported = {"case_id": str(case_id), "resident_sealed": {**SEALED, "sealed": True}}
            await router.execute(
                "INSERT INTO cases (case_id, reported, received_at) VALUES ($1, $2, $3)",
                case_id,
                json.dumps(reported),
                resolved_at - timedelta(days=3),
            )

        assert await run_retention("departments", ns.database_urls["departments"], RetentionPolicy()) is not None
        assert await run_retention("router", ns.database_urls["router"], RetentionPolicy()) is not None

        masked = {
            r["case_id"]: (r["resident_name_masked"], r["resident_phone_masked"], r["status"])
            for r in await departments.fetch(
                "SELECT * FROM work_items WHERE case_id = ANY($1)", [resolved_long_ago, resolved_lately]
            )
        }
        assert masked == {resolved_long_ago: ("", "", "resolved"), resolved_lately: ("张*", "138****1234", "resolved")}
        copies = {
            r["case_id"]: json.loads(r["reported"])["resident_sealed"]
            for r in await router.fetch(
                "SELECT case_id, reported FROM cases WHERE case_id = ANY($1)", [resolved_long_ago, resolved_lately]
            )
        }
        assert copies[resolved_long_ago]["phone"] is None and copies[resolved_long_ago]["channel"] == "sms"
        assert copies[resolved_lately]["phone"] == "gAAAA-phone"
    finally:
        await departments.close()
        await router.close()
