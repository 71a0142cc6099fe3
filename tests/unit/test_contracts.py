"""Event contracts and their CloudEvents binding, without I/O."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from gridloop.contracts.events import (
    DETAILS,
    EVENT_TYPES,
    CaseStatusChanged,
    EscalationDetail,
    ResidentContact,
    ReturnedDetail,
    SignedDetail,
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
    from gridloop.auth.privacy import ResidentCipher
    from gridloop.auth.settings import AuthSettings
    from services.router.handlers import load_report, stored_report
    from tests.support.reports import reported_event

    cipher = ResidentCipher.from_settings(AuthSettings())
    event = reported_event()
    earlier = {**event.model_dump(mode="json"), "resident": cipher.seal(event.resident.model_dump())}
    earlier.pop("resident_sealed")  # the row an earlier version wrote: the sealed contact under "resident"
    for stored in (earlier, stored_report(event, cipher)):
        assert event.resident.phone not in str(stored)
        assert load_report(stored).contact(cipher.open) == event.resident


# Status details exactly as services wrote them before the detail models existed (v1 on Kafka, in outboxes and
# in notify's case_steps): each must still decode, into its status's model.
_V1_DETAILS: list[tuple[str, dict]] = [
    ("received", {"grid_id": "G-01", "community_id": "C-01"}),
    ("forwarded", {"item_name_zh": "噪声扰民", "resolve_hours": 24}),
    ("not_admitted", {"confidence": 0.412}),
    ("triage", {"confidence": 0.5}),
    ("triage", {"returns": 2, "excluded_departments": ["police", "street_office"], "reason_code": "double_return"}),
    ("signed", {"within_deadline": True}),
    ("signed", {"primary_case_id": "1b4e28ba-2fa1-11d2-883f-0016d3cca427"}),
    ("in_progress", {}),
    ("returned", {"reason_code": "not_our_remit", "department": "street_office", "dispatch_no": 1}),
    ("resolved", {"result": "已调解", "within_deadline": False}),
    ("resolved", {"result": "已疏通", "within_deadline": True, "primary_case_id": str(uuid.UUID(int=7))}),
    ("feedback_received", {"rating": "basically_satisfied", "comment": "", "via": "sms"}),
    ("reopened", {"round": 1, "rating": "dissatisfied"}),
    ("closed", {"rating": "satisfied"}),
    ("closed", {"rating": None, "reason": "no_feedback"}),
    ("sla_warning", {"clock": "sign", "level": "handler", "deadline": "2026-12-01T10:00:00+00:00"}),
    ("sla_breached", {"clock": "resolve", "level": "department_head", "deadline": "2026-12-01T10:00:00+00:00"}),
    (
        "escalated",
        {"clock": "sign", "level": "department_head", "deadline": "2026-12-01T11:00:00+00:00", "from_level": "handler"},
    ),
    ("escalated", {"level": "district_supervisor", "reason": "resident_dissatisfied", "reopens": 2}),
    ("extension_requested", {"extension_id": "0f8e4a52-9d0e-4c1b-9a43-2b7f7c1d9e10", "hours": 48, "reason": "等配件"}),
    (
        "extension_decided",
        {
            "extension_id": "0f8e4a52-9d0e-4c1b-9a43-2b7f7c1d9e10",
            "approved": True,
            "hours": 48,
            "resolve_deadline": "2026-12-03T10:00:00+00:00",
        },
    ),
    ("duplicate_linked", {"primary_case_id": "1b4e28ba-2fa1-11d2-883f-0016d3cca427", "grid_id": "G-01"}),
    ("duplicate_unlinked", {"primary_case_id": "1b4e28ba-2fa1-11d2-883f-0016d3cca427"}),
]


@pytest.mark.parametrize(("status", "detail"), _V1_DETAILS)
def test_a_status_event_written_before_the_detail_models_still_decodes_into_its_model(status, detail) -> None:
    payload = {
        "case_id": str(uuid.uuid4()),
        "status": status,
        "at": "2026-12-01T08:00:00+00:00",
        "actor": "t",
        "department": None,
        "item_code": None,
        "note": "",
        "detail": detail,
    }
    _event_id, event = decode(_STATUS_HEADERS, b"k", json.dumps(payload, ensure_ascii=False).encode())
    assert isinstance(event, CaseStatusChanged)
    assert isinstance(event.detail, DETAILS[status])
    # Re-encoded it says the same, in the same words (a dropped None is an absent key, as readers took it).
    again = {k: v for k, v in detail.items() if v is not None}
    assert _same_instants(event.detail.model_dump(mode="json")) == _same_instants(again)


def _same_instants(detail: dict) -> dict:
    """Datetimes compared as instants: `+00:00` then, `Z` now."""
    return {k: datetime.fromisoformat(v) if k in ("deadline", "resolve_deadline") else v for k, v in detail.items()}


def test_each_status_reads_its_own_detail_and_refuses_another_status_detail() -> None:
    signed = _status(status="signed", detail={"within_deadline": True})
    assert signed.detail_as(SignedDetail).within_deadline is True
    with pytest.raises(TypeError, match="signed step carries a SignedDetail"):
        signed.detail_as(ReturnedDetail)
    with pytest.raises(ValidationError, match="carries a SignedDetail, not a ReturnedDetail"):
        _status(status="signed", detail=ReturnedDetail(reason_code="wrong_area"))
    with pytest.raises(ValidationError, match="reason_code"):
        _status(status="signed", detail={"reason_code": "wrong_area"})  # a returned step's field
    with pytest.raises(ValidationError, match="rating"):
        _status(status="closed", detail={"rating": "so-so"})
    assert isinstance(_status(status="returned").detail, ReturnedDetail), "no detail given: the status's model, empty"


def test_an_sla_step_names_its_deadline_in_code_and_travels_with_the_v1_word_clock() -> None:
    deadline = datetime(2026, 12, 1, 10, tzinfo=UTC)
    detail = EscalationDetail(deadline_name="sign", level="handler", deadline=deadline)
    event = _status(status="sla_warning", detail=detail)
    wire = {"clock": "sign", "level": "handler", "deadline": "2026-12-01T10:00:00Z"}
    assert event.model_dump(mode="json")["detail"] == wire
    headers, key, value = encode(Envelope.wrap(event, event_id=uuid.uuid4(), source="/gridloop/departments"))
    assert decode(headers, key, value)[1].detail_as(EscalationDetail).deadline_name == "sign"
