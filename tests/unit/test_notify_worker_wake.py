"""The delivery worker's loop: a pass when woken (not only at the poll), passes spaced by the gather window, and no
wake lost when it comes while a pass runs. `deliver_due` is replaced by a recorder; the database is not involved."""

from __future__ import annotations

import asyncio
import itertools
from datetime import datetime

import pytest

from services.notify.settings import NotifySettings
from services.notify.worker import DeliveryWorker


class RecordingWorker(DeliveryWorker):
    def __init__(self, settings: NotifySettings, pass_seconds: float = 0.0) -> None:
        super().__init__(db=None, channels={}, settings=settings)  # type: ignore[arg-type]
        self.passes: list[float] = []
        self._pass_seconds = pass_seconds

    async def deliver_due(self, now: datetime) -> int:
        self.passes.append(asyncio.get_running_loop().time())
        await asyncio.sleep(self._pass_seconds)
        return 0


@pytest.fixture
async def running():
    tasks: list[asyncio.Task] = []

    def start(worker: DeliveryWorker) -> DeliveryWorker:
        tasks.append(asyncio.create_task(worker.run()))
        return worker

    yield start
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def until(condition, timeout: float = 2.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.005)


async def test_a_wake_starts_a_pass_long_before_the_poll(running) -> None:
    worker = running(RecordingWorker(NotifySettings(delivery_poll_seconds=60, delivery_gather_seconds=0)))
    await until(lambda: len(worker.passes) == 1)  # the pass at start
    await asyncio.sleep(0.1)
    assert len(worker.passes) == 1, "nothing woke it, and the poll is a minute away"
    worker.wake()
    await until(lambda: len(worker.passes) == 2, timeout=1.0)


async def test_wakes_come_no_closer_than_the_gather_window(running) -> None:
    worker = running(RecordingWorker(NotifySettings(delivery_poll_seconds=60, delivery_gather_seconds=0.2)))
    await until(lambda: len(worker.passes) == 1)
    for _ in range(20):  # a burst of commits
        worker.wake()
        await asyncio.sleep(0.02)
    await until(lambda: len(worker.passes) >= 3)
    gaps = [b - a for a, b in itertools.pairwise(worker.passes)]
    assert all(gap >= 0.19 for gap in gaps), gaps
    assert len(worker.passes) <= 4, "twenty wakes within 0.4 s make at most one pass per window"


async def test_a_wake_during_a_pass_gets_a_pass_of_its_own(running) -> None:
    worker = running(
        RecordingWorker(NotifySettings(delivery_poll_seconds=60, delivery_gather_seconds=0), pass_seconds=0.1)
    )
    await until(lambda: len(worker.passes) == 1)
    worker.wake()  # during the first pass: its messages may be newer than that pass's read
    await until(lambda: len(worker.passes) == 2, timeout=1.0)
