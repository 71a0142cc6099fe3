"""docs/asyncapi.yaml: current with the contracts, one channel per topic, and real events fit its schemas."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import jsonschema
import yaml

from gridloop.contracts import asyncapi
from gridloop.contracts.events import (
    CaseDispatched,
    CaseStatusChanged,
    ClosedDetail,
    EscalationDetail,
    FeedbackDetail,
    ForwardedDetail,
    ReturnedDetail,
)
from gridloop.contracts.topics import ALL_TOPICS, dead_letter_topic
from gridloop.delivery.kafka import Envelope, encode


def spec() -> dict:
    return yaml.safe_load(asyncapi.DOCUMENT.read_text(encoding="utf-8"))


def resolve(document: dict, schema_name: str) -> dict:
    """The named component schema with its refs resolvable, as jsonschema needs it."""
    return {**document["components"]["schemas"][schema_name], "components": document["components"]}


def test_committed_document_is_generated_from_the_current_contracts():
    assert asyncapi.main(["--check"]) == 0, "run: python -m gridloop.contracts.asyncapi"


def test_every_topic_and_its_dead_letter_topic_has_a_channel_keyed_by_case_id():
    document = spec()
    assert document["asyncapi"].startswith("3.")
    addresses = {channel["address"] for channel in document["channels"].values()}
    assert addresses == {*ALL_TOPICS, *(dead_letter_topic(t) for t in ALL_TOPICS)}
    for message in document["components"]["messages"].values():
        assert message["bindings"]["kafka"]["key"]["format"] == "uuid"
    for operation in document["operations"].values():
        assert operation["action"] in {"send", "receive"}


def test_a_real_dispatched_event_fits_the_documented_payload_and_headers():
    document = spec()
    now = datetime.now(UTC)
    event = CaseDispatched(
        case_id=uuid.uuid4(),
        department="police",
        item_code="P01",
        item_name_zh="噪声扰民",
        resolve_hours=24,
        confidence=0.93,
        list_version="v1",
        description="楼下KTV每晚唱到凌晨两点",
        grid_id="g1",
        community_id="c1",
        occurred_at=now,
        reported_at=now,
        dispatched_at=now,
        resident_name_masked="张**",
        resident_phone_masked="138****5678",
    )
    headers, _key, value = encode(Envelope.wrap(event, event_id=uuid.uuid4(), source="/gridloop/router"))
    jsonschema.validate(yaml.safe_load(value), resolve(document, "CaseDispatched"))
    jsonschema.validate({k: v.decode() for k, v in headers}, resolve(document, "CaseDispatchedHeaders"))


def test_the_documented_status_schema_refuses_an_unknown_step():
    document = spec()
    bad = CaseStatusChanged(case_id=uuid.uuid4(), status="received", at=datetime.now(UTC), actor="intake")
    payload = {**bad.model_dump(mode="json"), "status": "teleported"}
    try:
        jsonschema.validate(payload, resolve(document, "CaseStatusChanged"))
    except jsonschema.ValidationError:
        return
    raise AssertionError("an unknown status passed the documented schema")


def test_real_status_events_fit_the_documented_detail_of_their_status_and_no_other():
    document = spec()
    now = datetime.now(UTC)
    steps = [
        ("forwarded", ForwardedDetail(item_name_zh="噪声扰民", resolve_hours=24)),
        ("returned", ReturnedDetail(reason_code="wrong_area", department="police", dispatch_no=1)),
        ("escalated", EscalationDetail(deadline_name="resolve", level="district_supervisor", deadline=now)),
        ("closed", ClosedDetail(reason="no_feedback")),
        ("feedback_received", FeedbackDetail(rating="satisfied", comment="很快", via="page")),
        ("in_progress", None),
    ]
    for status, detail in steps:
        extra = {"detail": detail} if detail is not None else {}
        event = CaseStatusChanged(case_id=uuid.uuid4(), status=status, at=now, actor="t", **extra)
        _headers, _key, value = encode(Envelope.wrap(event, event_id=uuid.uuid4(), source="/gridloop/departments"))
        jsonschema.validate(yaml.safe_load(value), resolve(document, "CaseStatusChanged"))
    returned = CaseStatusChanged(case_id=uuid.uuid4(), status="returned", at=now, actor="t", detail=steps[1][1])
    as_signed = {**returned.model_dump(mode="json"), "status": "signed"}
    try:
        jsonschema.validate(as_signed, resolve(document, "CaseStatusChanged"))
    except jsonschema.ValidationError:
        return
    raise AssertionError("a signed step with a return's detail passed the documented schema")
