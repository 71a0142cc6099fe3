"""Valid report bodies for tests, built from the real registry."""

from __future__ import annotations

import uuid
from typing import Any

from gridloop.registry import default_registry


def report_body(description: str, *, item_hint: str | None = None, worker_index: int = 0, **overrides: Any) -> dict:
    registry = default_registry()
    worker = registry.workers[worker_index]
    body = {
        "client_report_id": str(uuid.uuid4()),
        "worker_id": worker.worker_id,
        "grid_id": worker.grid_ids[0],
        "description": description,
        "item_hint": item_hint,
        "location": {"lat": 30.71, "lon": 104.05, "address": "金牛区抚琴街道西南街社区12栋"},
        "occurred_at": "2026-11-25T09:12:00+08:00",
        "photo_urls": [],
        "resident": {"name": "张秀英", "phone": "13812345678", "notify_consent": True, "channel": "sms"},
    }
    body.update(overrides)
    return body
