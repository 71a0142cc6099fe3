"""`Statuses`: a group that acts on a few statuses passes over the other status events before decoding them, and
never passes over one it acts on."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from gridloop.contracts.events import CaseStatusChanged
from gridloop.delivery.consumer import Statuses
from gridloop.delivery.kafka import Envelope, decode, encode


def record_value(status: str, note: str = "已处理", detail: dict | None = None) -> bytes:
    event = CaseStatusChanged(
        case_id=uuid.uuid4(), status=status, at=datetime.now(UTC), actor="t", note=note, detail=detail or {}
    )
    _headers, _key, value = encode(Envelope.wrap(event, event_id=uuid.uuid4(), source="/test"))
    return value


def test_a_record_of_a_wanted_status_is_decoded_and_wanted_and_others_are_passed_over_undecoded() -> None:
    wants = Statuses("feedback_received", "reopened")
    for status in ("feedback_received", "reopened"):
        value = record_value(status)
        assert wants.may_want(value)
        assert wants(decode(*_parts(value))[1])
    for status in ("received", "forwarded", "signed", "resolved", "returned", "closed"):
        assert not wants.may_want(record_value(status))


def test_a_status_named_elsewhere_in_the_event_is_decoded_and_then_not_wanted() -> None:
    wants = Statuses("returned")
    value = record_value("resolved", detail={"result": "returned"})
    assert wants.may_want(value)  # the bytes cannot tell: decode and look
    assert not wants(decode(*_parts(value))[1])
    # Inside a text the quotes are escaped, so a note cannot look like the status.
    assert not wants.may_want(record_value("resolved", note='居民说"returned"不对'))


def test_a_record_without_a_value_is_decoded_so_that_it_can_be_dead_lettered() -> None:
    assert Statuses("returned").may_want(None)


def _parts(value: bytes) -> tuple:
    """Headers and key as the relay sends them, around a given value."""
    event = CaseStatusChanged(case_id=uuid.uuid4(), status="received", at=datetime.now(UTC), actor="t", note="x")
    headers, key, _ = encode(Envelope.wrap(event, event_id=uuid.uuid4(), source="/test"))
    return headers, key, value
