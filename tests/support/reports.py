"""Valid report bodies for tests, built from the real registry."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from gridloop.contracts.events import CaseReported, ResidentContact
from gridloop.registry import default_registry
from gridloop.registry.models import Grid, Worker
from services.departments.duplicates import distance_metres

# Worker indices a test may name with `worker_index=` (a worker whose token or grid it needs); their grids are
# never handed out by default, so a named worker's reports cannot be linked with another test's.
NAMED_WORKERS = range(100)


# Reports of one item are linked as duplicates in the same grid or within 100 m, so grids handed out lie at least
# this far from each other and from every named worker's grid (neighbouring grids' centres can be 70 m apart).
SPACING_METRES = 200.0


def _own_workers() -> Iterator[Worker]:
    """One worker per grid, each grid at most once per test session, in registry order, each grid's centre at
    least SPACING_METRES from every other grid handed out and from the named workers' grids: every report built
    without `worker_index` has a place no other report of the session is near. Sharing a grid by chance made
    tests fail at random; handing grids out in order makes that impossible rather than unlikely."""
    registry = default_registry()
    taken = [registry.grid(grid) for index in NAMED_WORKERS for grid in registry.workers[index].grid_ids]
    for worker in registry.workers[len(NAMED_WORKERS) :]:
        grids = [registry.grid(grid) for grid in worker.grid_ids]
        if all(_apart(grid, other) for grid in grids for other in taken):
            taken.extend(grids)
            yield worker
    raise RuntimeError("no grid is left that is far from every grid handed out this session: name a worker")


def _apart(a: Grid, b: Grid) -> bool:
    distance = distance_metres({"lat": a.lat, "lon": a.lon}, {"lat": b.lat, "lon": b.lon})
    return distance is not None and distance >= SPACING_METRES


_workers = _own_workers()
_phones = itertools.count(1)


def own_worker() -> Worker:
    """A worker (and grid) that no other report of this test session uses."""
    return next(_workers)


def own_phone(prefix: str = "139") -> str:
    """A resident's phone number that no other test of this session uses (replies are matched by phone)."""
    return f"{prefix}{next(_phones):08d}"


def report_body(
    description: str, *, item_hint: str | None = None, worker_index: int | None = None, **overrides: Any
) -> dict:
    """A valid report, located at the grid's centre: by default from a worker and grid of its own (`own_worker`),
    so that reports of different tests are never linked as duplicates; `worker_index` (< 100) names a worker."""
    registry = default_registry()
    if worker_index is None:
        worker = own_worker()
    elif worker_index in NAMED_WORKERS:
        worker = registry.workers[worker_index]
    else:
        raise ValueError(f"worker_index {worker_index}: name one of {NAMED_WORKERS} (the others are handed out)")
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
