"""Event contracts and their CloudEvents binding, without I/O."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from gridloop.contracts.events import (
    EVENT_TYPES,
    CaseStatusChanged,
    ResidentContact,
    derived_event_id,
    mask_name,
    mask_phone,
)
from gridloop.delivery.kafka import Envelope, KafkaSettings, PoisonMessage, decode, encode


def _status(**overrides) -> CaseStatusChanged:
    values = {
        "case_id": uuid.uuid4(),
        "status": "forwarded",
        "at": datetime.now(UTC),
        "actor": "router",
        "department": "police",
        "note": "已转派至辖区派出所",
    }
    return CaseStatusChanged(**{**values, **overrides})


def test_event_travels_as_a_binary_cloudevent_keyed_by_case_id() -> None:
    event = _status()
    event_id = uuid.uuid4()
    headers, key, value = encode(Envelope.wrap(event, event_id=event_id, source="/gridloop/router"))
    header_map = dict(headers)
    assert header_map["ce_id"] == str(event_id).encode()
    assert header_map["ce_type"] == b"cn.gridloop.case.status_changed.v1"
    assert header_map["ce_specversion"] == b"1.0"
    assert header_map["ce_source"] == b"/gridloop/router"
    assert header_map["content-type"] == b"application/json"
    assert key == str(event.case_id).encode()
    assert decode(headers, key, value) == (event_id, event)


def test_every_event_type_is_versioned() -> None:
    assert all(t.endswith(".v1") for t in EVENT_TYPES)


_STATUS_HEADERS = [
    ("ce_id", str(uuid.uuid4()).encode()),
    ("ce_type", b"cn.gridloop.case.status_changed.v1"),
    ("ce_source", b"/x"),
    ("ce_specversion", b"1.0"),
    ("content-type", b"application/json"),
]


@pytest.mark.parametrize(
    ("headers", "value", "reason"),
    [
        ([], b"{}", "missing CloudEvents headers"),
        (
            [
                ("ce_id", b"not-a-uuid"),
                ("ce_type", b"cn.gridloop.case.status_changed.v1"),
                ("ce_source", b"/x"),
                ("ce_specversion", b"1.0"),
            ],
            b"{}",
            "CloudEvent",
        ),
        (
            [
                ("ce_id", str(uuid.uuid4()).encode()),
                ("ce_type", b"cn.other.v9"),
                ("ce_source", b"/x"),
                ("ce_specversion", b"1.0"),
                ("content-type", b"application/json"),
            ],
            b"{}",
            "unknown event type",
        ),
        (
            [
                ("ce_id", str(uuid.uuid4()).encode()),
                ("ce_type", b"cn.gridloop.case.status_changed.v1"),
                ("ce_source", b"/x"),
                ("ce_specversion", b"1.0"),
                ("content-type", b"application/json"),
            ],
            b'{"case_id": "x"}',
            "schema-invalid",
        ),
        (_STATUS_HEADERS, b"not json", "not a JSON object"),
        (_STATUS_HEADERS, b"[1, 2]", "not a JSON object"),
        (_STATUS_HEADERS, b'{"case_id": ', "undecodable CloudEvent data: Invalid JSON"),
    ],
)
def test_undecodable_records_are_poison_with_a_reason(headers, value, reason) -> None:
    with pytest.raises(PoisonMessage, match=reason):
        decode(headers, b"k", value)


def test_derived_event_ids_are_deterministic_and_distinct_per_step() -> None:
    source = uuid.uuid4()
    assert derived_event_id(source, "dispatched") == derived_event_id(source, "dispatched")
    assert derived_event_id(source, "dispatched") != derived_event_id(source, "routing-status")


def test_resident_contact_refuses_a_malformed_phone() -> None:
    with pytest.raises(ValueError, match="phone"):
        ResidentContact(name="张三", phone="12345")


def test_masking_keeps_only_what_identifies_nobody() -> None:
    assert mask_phone("13812345678") == "138****5678"
    assert mask_name("张秀英") == "张**"


def test_topic_prefix_namespaces_physical_topics() -> None:
    kafka = KafkaSettings(topic_prefix="t1.")
    assert kafka.topic("gridloop.cases.status") == "t1.gridloop.cases.status"
    assert kafka.logical("t1.gridloop.cases.status") == "gridloop.cases.status"


def test_a_reported_case_carries_the_contact_sealed_or_in_clear_never_both_nor_neither() -> None:
    from gridloop.auth.privacy import ResidentCipher
    from gridloop.auth.settings import AuthSettings
    from tests.support.reports import reported_event

    cipher = ResidentCipher.from_settings(AuthSettings())
    legacy = reported_event()  # in clear, as events written before sealing
    sealed = reported_event(resident=None, resident_sealed=cipher.seal(legacy.resident.model_dump(mode="json")))
    assert legacy.resident.phone not in sealed.model_dump_json()
    assert sealed.contact(cipher.open) == legacy.contact(cipher.open) == legacy.resident
    with pytest.raises(ValidationError, match="exactly one"):
        reported_event(resident_sealed=sealed.resident_sealed)
    with pytest.raises(ValidationError, match="exactly one"):
        reported_event(resident=None)


def test_the_router_reads_back_reports_it_stored_before_contacts_came_sealed() -> None:
    from services.router.handlers import _resident_cipher, load_report, stored_report
    from tests.support.reports import reported_event

    event = reported_event()
    earlier = {**event.model_dump(mode="json"), "resident": _resident_cipher().seal(event.resident.model_dump())}
    earlier.pop("resident_sealed")  # the row an earlier version wrote: the sealed contact under "resident"
    for stored in (earlier, stored_report(event)):
        assert event.resident.phone not in str(stored)
        assert load_report(stored).contact(_resident_cipher().open) == event.resident
