"""Python's cyclic garbage collector, seen and tamed: how long each collection stops the service, and the start-up
heap moved out of its reach.

A full (generation 2) collection visits every container object the process holds and stops the event loop while
it does. A service holds ~130,000 of them once started — modules, classes, SQLAlchemy's and FastAPI's
structures, pydantic's validators — almost all alive until the process ends. Visiting them took 50–62 ms on an
idle machine and 119–195 ms at 200 reports/s (docs/operations.md): every request, consumer batch and relay pass of
the service waited that long, about once a minute. Frozen, a full collection under load takes 10–50 ms.

`freeze_startup_heap()` runs one collection and then `gc.freeze()`: what is alive at that moment is moved to a
permanent generation that later collections skip (the approach CPython documents for long-running servers). Only
objects created after start-up are visited from then on. The cost: a cycle among frozen objects that later
becomes garbage is never collected — start-up state that lives as long as the process anyway. Processes started
by `serve()` freeze; apps run in-process by the tests do not (they start and drop many apps in one process).
"""

from __future__ import annotations

import gc
import time
from typing import Any

from prometheus_client import Gauge, Histogram

GC_PAUSE = Histogram(
    "gridloop_gc_pause_seconds",
    "How long each cyclic garbage collection stopped the service, by generation (2 = full)",
    ["generation"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5),
)
GC_FROZEN = Gauge(
    "gridloop_gc_frozen_objects", "Objects alive after start-up that the collector no longer visits (gc.freeze)"
)
_started = [0.0]


def _observe(phase: str, info: dict[str, Any]) -> None:
    if phase == "start":
        _started[0] = time.perf_counter()
    else:
        GC_PAUSE.labels(str(info["generation"])).observe(time.perf_counter() - _started[0])


def watch_gc_pauses() -> None:
    """Time every collection from now on (idempotent)."""
    if _observe not in gc.callbacks:
        gc.callbacks.append(_observe)


def freeze_startup_heap() -> int:
    """Collect once, then keep everything still alive out of later collections; returns how many objects."""
    gc.collect()
    gc.freeze()
    frozen = gc.get_freeze_count()
    GC_FROZEN.set(frozen)
    return frozen
