"""Valid report bodies for tests, built from the real registry."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime
from typing import Any

from gridloop.contracts.events import CaseReported, ResidentContact
from gridloop.registry import default_registry


def report_body(
    description: str, *, item_hint: str | None = None, worker_index: int | None = None, **overrides: Any
) -> dict:
    """A valid report; by default from a random worker in their own grid, located at the grid's centre, so that
    reports of different tests are not linked as duplicates (same item, same grid or within 100 m)."""
    registry = default_registry()
    worker = registry.workers[random.randrange(len(registry.workers)) if worker_index is None else worker_index]
    grid = registry.grid(worker.grid_ids[0])
    body = {
        "client_report_id": str(uuid.uuid4()),
        "worker_id": worker.worker_id,
        "grid_id": grid.grid_id,
        "description": description,
        "item_hint": item_hint,
        "location": {"lat": grid.lat, "lon": grid.lon, "address": f"金牛区{grid.name}12栋"},
        "occurred_at": "2026-11-25T09:12:00+08:00",
        "photo_urls": [],
        "resident": {"name": "张秀英", "phone": "13812345678", "notify_consent": True, "channel": "sms"},
    }
    body.update(overrides)
    return body


def reported_event(**fields: Any) -> CaseReported:
    """A CaseReported for tests that feed handlers directly; `fields` override the defaults (its own case, grid
    and tracking token). The contact is in clear, as in events written before intake sealed it; handlers read both
    forms, and `resident=None, resident_sealed=cipher.seal(...)` gives the sealed one."""
    now = datetime.now(UTC)
    defaults: dict[str, Any] = {
        "case_id": uuid.uuid4(),
        "client_report_id": uuid.uuid4(),
        "worker_id": "W-TEST",
        "grid_id": f"G-{uuid.uuid4().hex[:10]}",
        "community_id": "JN-TEST-01",
        "description": "小区路灯坏了",
        "occurred_at": now,
        "reported_at": now,
        "resident": ResidentContact(name="刘桂芳", phone="13912345678"),
        "tracking_token": uuid.uuid4().hex,
    }
    return CaseReported(**{**defaults, **fields})
