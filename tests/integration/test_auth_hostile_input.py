"""Hostile records on a topic that carries residents' contacts: random bytes, invalid JSON, a version we do not
know, a record over 1 MB. Each goes to the dead-letter topic with the contact encrypted, and the consumers keep
going. Residents' contacts are encrypted at rest in intake and notify and read back only by operators, audited."""

from __future__ import annotations

import json
import uuid

import pytest
import sqlalchemy as sa
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from sqlalchemy.ext.asyncio import create_async_engine

from gridloop.auth.credentials import Credentials
from gridloop.auth.privacy import DLT_SEALED_HEADER, ResidentCipher
from gridloop.auth.settings import AuthSettings
from gridloop.contracts.topics import CASES_REPORTED, dead_letter_topic
from gridloop.delivery.consumer import MAX_RECORD_BYTES
from tests.support.apps import Services, build_apps, running
from tests.support.polling import wait_for
from tests.support.reports import report_body

pytestmark = pytest.mark.integration
PHONE = "13712345678"
GROUPS = {b"gridloop.router", b"gridloop.notify"}


@pytest.fixture(scope="module")
async def services(ns, tmp_path_factory):
    apps = build_apps(ns, notify_log=tmp_path_factory.mktemp("notify") / "messages.jsonl")
    async with running(apps) as running_services:
        yield running_services


def ce_headers(event_type: str) -> list[tuple[str, bytes]]:
    return [
        ("ce_id", str(uuid.uuid4()).encode()),
        ("ce_type", event_type.encode()),
        ("ce_source", b"/hostile"),
        ("ce_specversion", b"1.0"),
        ("content-type", b"application/json"),
    ]


def reported_payload(**changes: object) -> bytes:
    body = report_body("有人在楼下乱停车", worker_index=3)
    payload = {
        "case_id": str(uuid.uuid4()),
        "client_report_id": body["client_report_id"],
        "worker_id": body["worker_id"],
        "grid_id": body["grid_id"],
        "community_id": "JN-C001",
        "description": body["description"],
        "occurred_at": "2026-11-25T09:00:00+08:00",
        "reported_at": "2026-11-25T09:00:00+08:00",
        "resident": {"name": "王秀兰", "phone": PHONE, "notify_consent": True, "channel": "sms"},
        "tracking_token": "t",
        **changes,
    }
    return json.dumps(payload, ensure_ascii=False).encode()


async def dead_letters(ns, keys: set[bytes]) -> list:
    consumer = AIOKafkaConsumer(
        ns.kafka().topic(dead_letter_topic(CASES_REPORTED)),
        bootstrap_servers=ns.bootstrap,
        auto_offset_reset="earliest",
        group_id=None,
        max_partition_fetch_bytes=4 * 1024 * 1024,
    )
    await consumer.start()
    found: list = []
    try:

        async def collect() -> list:
            for records in (await consumer.getmany(timeout_ms=300)).values():
                found.extend(r for r in records if r.key in keys)
            per_key = {(r.key, dict(r.headers)["dlt_consumer_group"]) for r in found}
            return found if len(per_key) >= len(keys) * len(GROUPS) else []

        return await wait_for(collect, timeout=60, what="every hostile record dead-lettered by router and notify")
    finally:
        await consumer.stop()


async def allow_big_records(ns, topic: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=ns.bootstrap)
    await admin.start()
    try:
        resource = ConfigResource(ConfigResourceType.TOPIC, topic, configs={"max.message.bytes": "3000000"})
        await admin.alter_configs([resource])
    finally:
        await admin.close()


async def test_hostile_records_are_dead_lettered_sealed_and_the_consumers_keep_going(ns, services: Services) -> None:
    topic = ns.kafka().topic(CASES_REPORTED)
    await allow_big_records(ns, topic)
    marker = uuid.uuid4().hex[:8]
    hostile = {
        f"bytes-{marker}".encode(): (f"\x00\xff{PHONE}".encode() + bytes(range(256)), ce_headers("x")),
        f"json-{marker}".encode(): (b'{"resident": {"phone": "' + PHONE.encode() + b'"', ce_headers("x")),
        f"v2-{marker}".encode(): (reported_payload(), ce_headers("cn.gridloop.case.reported.v2")),
        f"invalid-{marker}".encode(): (reported_payload(returns="many"), ce_headers("cn.gridloop.case.reported.v1")),
        f"huge-{marker}".encode(): (
            reported_payload(description="长" * (MAX_RECORD_BYTES // 2)),
            ce_headers("cn.gridloop.case.reported.v1"),
        ),
    }
    producer = AIOKafkaProducer(bootstrap_servers=ns.bootstrap, max_request_size=3_000_000)
    await producer.start()
    try:
        for key, (value, headers) in hostile.items():
            await producer.send_and_wait(topic, value, key=key, headers=headers)
    finally:
        await producer.stop()

    letters = await dead_letters(ns, set(hostile))
    cipher = ResidentCipher.from_settings(AuthSettings())
    for letter in letters:
        headers = dict(letter.headers)
        assert headers["dlt_consumer_group"] in GROUPS
        assert PHONE.encode() not in (letter.value or b""), f"{letter.key!r}: the phone number went out in clear"
        assert PHONE.encode() not in headers["dlt_exception_message"]
        original = cipher.open_dead_letter(letter.value, list(letter.headers))
        if letter.key.startswith(b"huge-"):
            assert int(headers["dlt_value_truncated_from"]) > MAX_RECORD_BYTES
            assert b"exceeds" in headers["dlt_exception_message"]
        else:
            assert original == hostile[letter.key][0] or json.loads(original) == json.loads(hostile[letter.key][0])
        if letter.key.startswith((b"v2-", b"invalid-")):
            assert headers[DLT_SEALED_HEADER] == b"resident", "the rest stays readable for replay"
            assert json.loads(letter.value)["worker_id"]

    # the consumers are still running: a real report is routed and its resident remembered
    accepted = await services.intake.post("/v1/reports", json=report_body("小区路灯坏了一排"))
    case_id = accepted.json()["case_id"]

    async def decided() -> bool:
        return (await services.router.get(f"/v1/decisions/{case_id}")).status_code == 200

    await wait_for(decided, timeout=60, what="the router deciding a report after the hostile records")


async def test_residents_contacts_are_encrypted_at_rest_and_read_back_only_by_operators(ns, services) -> None:
    body = report_body("楼上漏水把我家天花板泡坏了")
    body["resident"] = {**body["resident"], "name": "赵桂英", "phone": PHONE}
    case_id = (await services.intake.post("/v1/reports", json=body)).json()["case_id"]

    intake_db = create_async_engine(ns.database_urls["intake"])
    notify_db = create_async_engine(ns.database_urls["notify"])
    try:
        async with intake_db.connect() as conn:
            stored = await conn.scalar(sa.text("SELECT resident::text FROM cases WHERE case_id = :c"), {"c": case_id})
        assert PHONE not in stored and "赵桂英" not in stored and '"channel": "sms"' in stored

        async def remembered() -> str | None:
            async with notify_db.connect() as conn:
                return await conn.scalar(
                    sa.text("SELECT resident::text || phone_digest FROM recipients WHERE case_id = :c"), {"c": case_id}
                )

        stored = await wait_for(remembered, what="notify remembering the resident")
        assert PHONE not in stored and "赵桂英" not in stored
    finally:
        await intake_db.dispose()
        await notify_db.dispose()

    worker = Credentials().worker(body["worker_id"])
    assert (await services.intake.get(f"/v1/cases/{case_id}/resident", headers=worker)).status_code == 403
    contact = await services.intake.get(f"/v1/cases/{case_id}/resident")
    assert contact.status_code == 200 and (contact.json()["name"], contact.json()["phone"]) == ("赵桂英", PHONE)
    reads = (
        await services.intake.get("/v1/audit", params={"case_id": case_id, "action": "read_resident_contact"})
    ).json()
    assert [e["actor"] for e in reads] == ["operator:测试值班员"]

    token = (await services.intake.post("/v1/reports", json=body)).json()["tracking_token"]

    async def page() -> str | None:
        response = await services.notify.get(f"/c/{token}")
        return response.text if response.status_code == 200 else None

    html = await wait_for(page, what="the case page")
    assert "赵**" in html and "137****5678" in html and PHONE not in html and "赵桂英" not in html
