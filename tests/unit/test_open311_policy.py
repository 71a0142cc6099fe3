"""The public data policy of Open311 reads, as pure rules (no I/O): who sees which item's cases, and how much."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from cryptography.fernet import Fernet

from gridloop.admission.admission_list import default_admission_list
from gridloop.auth.settings import AuthSettings
from gridloop.registry import default_registry
from services.intake.open311 import Open311Error, Open311Reader, public_point, reader_for, request_entry
from services.intake.settings import IntakeSettings

POLICE_PARTNER = "police-partner-key-0000000000"
GRID = default_registry().grids[0]


def _row(service_code: str, **fields: Any) -> SimpleNamespace:
    now = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    values: dict[str, Any] = {
        "case_id": uuid.uuid4(),
        "status": "forwarded",
        "status_notes": "已转派至辖区派出所（家庭暴力）",
        "service_code": service_code,
        "description": "3栋2单元王某家中传出打骂声",
        "forwarded_department": "street_office",
        "forwarded_at": now,
        "reported_at": now,
        "updated_at": now,
        "location": {"lat": 30.712345, "lon": 104.034567, "address": "金牛区营门口路88号3栋2单元"},
        "grid_id": GRID.grid_id,
        "photo_urls": ["https://example.org/p.jpg"],
        "public_consent": False,
    }
    return SimpleNamespace(**{**values, **fields})


def _centre(grid_id: str) -> Any:
    return default_registry().grid(grid_id)


def test_an_anonymous_reader_sees_public_items_only() -> None:
    visible = Open311Reader().visible_codes(default_admission_list())
    assert "S02" in visible and "S03" in visible
    assert not {"P06", "P07", "P09", "P10", "S18", "S20", "F01", "S30"} & visible


def test_a_personal_items_case_has_no_public_view() -> None:
    assert request_entry(_row("P06"), Open311Reader(), _centre) is None
    assert request_entry(_row("S20"), Open311Reader(), _centre) is None
    assert request_entry(_row(None), Open311Reader(), _centre) is None, "an unrouted case without an item"


def test_the_public_view_rounds_the_location_and_leaves_out_address_words_and_photo() -> None:
    entry = request_entry(_row("S02"), Open311Reader(), _centre)
    assert entry is not None
    assert (entry["lat"], entry["long"]) == (30.712, 104.035)
    assert entry["address"] is None and entry["description"] is None and entry["media_url"] is None
    assert entry["status_notes"] == "已转派至责任部门", "a fixed note, never a department's own words"


def test_consent_shows_the_words_and_photo_but_never_the_address() -> None:
    entry = request_entry(_row("S02", public_consent=True), Open311Reader(), _centre)
    assert entry is not None
    assert entry["description"] and entry["media_url"] and entry["address"] is None and entry["lat"] == 30.712


def test_a_request_without_coordinates_is_shown_at_its_grid_centre() -> None:
    entry = request_entry(_row("S02", location={"address": "营门口路88号"}), Open311Reader(), _centre)
    assert entry is not None and (entry["lat"], entry["long"]) == public_point(GRID.lat, GRID.lon)


def test_a_partner_key_reads_its_departments_items_in_full_and_the_rest_as_the_public() -> None:
    settings = IntakeSettings(open311_partner_keys={POLICE_PARTNER: {"police"}})
    police = reader_for(POLICE_PARTNER, settings)
    assert "P06" in police.visible_codes(default_admission_list())
    full = request_entry(_row("P06"), police, _centre)
    assert full is not None and full["address"] and full["lat"] == 30.712345 and full["description"]
    assert full["status_notes"] == "已转派至辖区派出所（家庭暴力）"
    other = request_entry(_row("S02"), police, _centre)
    assert other is not None and other["address"] is None and other["lat"] == 30.712
    assert request_entry(_row("F01"), police, _centre) is None, "granted police, not finance"


def test_a_wrong_key_is_refused_rather_than_read_as_anonymous() -> None:
    with pytest.raises(Open311Error) as refused:
        reader_for("not-a-key", IntakeSettings())
    assert refused.value.code == 403
    assert reader_for(None, IntakeSettings()) == Open311Reader()
    posting = reader_for("gridloop-dev-open311", IntakeSettings())
    assert posting.key_digest and posting.departments == frozenset(), "a posting key reads like the public"


def test_each_replica_keeps_its_share_of_a_rate() -> None:
    settings = AuthSettings(replicas=4, public_reads_per_minute=60, public_read_burst=30)
    assert settings.per_replica(60, 30) == (15.0, 7)
    assert AuthSettings(replicas=100).per_replica(60, 30) == (0.6, 1)


def test_production_refuses_a_short_partner_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRIDLOOP_ENV", "production")
    monkeypatch.setenv("GRIDLOOP_INTAKE_DATABASE_URL", "postgresql+asyncpg://intake:s3cret@db:5432/intake")
    monkeypatch.setenv("GRIDLOOP_INTAKE_OPEN311_API_KEYS", '["a-real-open311-key"]')
    monkeypatch.setenv("GRIDLOOP_AUTH_SIGNING_KEY", "x" * 40)
    monkeypatch.setenv("GRIDLOOP_AUTH_RESIDENT_KEYS", '["' + Fernet.generate_key().decode() + '"]')
    monkeypatch.setenv("GRIDLOOP_AUTH_DIGEST_KEY", "y" * 32)
    monkeypatch.setenv("GRIDLOOP_INTAKE_OPEN311_PARTNER_KEYS", '{"short": ["police"]}')
    with pytest.raises(ValueError, match="partner"):
        IntakeSettings()
    monkeypatch.setenv("GRIDLOOP_INTAKE_OPEN311_PARTNER_KEYS", '{"%s": ["police"]}' % ("p" * 32))
    assert IntakeSettings().open311_partner_keys == {"p" * 32: frozenset({"police"})}
