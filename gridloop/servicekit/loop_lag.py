"""How late each service's event loop runs what is due: the first thing to look at when latency grows.

Every coroutine of a service — requests, consumers, the relay — shares one event loop. When the process is
starved of CPU (the machine is busy) or something runs synchronously for long (a large /metrics render, a slow
classifier call), every one of them waits, and request latency, handler time and consumer lag all grow
together. This watcher asks to be woken every `interval` and records how much later than asked it was woken.
"""

from __future__ import annotations

import asyncio

from prometheus_client import Histogram

LOOP_LAG = Histogram(
    "gridloop_event_loop_lag_seconds",
    "How much later than due the event loop ran a timer: the wait every coroutine of the service had",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
INTERVAL_SECONDS = 0.25


async def watch_loop_lag(interval: float = INTERVAL_SECONDS) -> None:
    loop = asyncio.get_running_loop()
    while True:
        due = loop.time() + interval
        await asyncio.sleep(interval)
        LOOP_LAG.observe(max(loop.time() - due, 0.0))
