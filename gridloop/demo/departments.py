"""The demo's stand-in for the police, finance and street-office systems: sign for and resolve work items."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import random
from collections import Counter
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx
from tqdm import tqdm

from gridloop.contracts.topics import DEPARTMENTS
from gridloop.demo.client import DemoClient
from gridloop.demo.results import resolution_text
from gridloop.registry.names import person_name

LEAVE_UNSIGNED_SHARE = 0.02  # nobody has looked at it yet
LEAVE_UNRESOLVED_SHARE = 0.03  # signed for, still being worked on
PAGE_SIZE = 200

Fate = Literal["resolve", "sign_only", "leave"]


@dataclass
class DepartmentTally:
    """What the simulated departments did; `errors` counts unexpected answers by step and HTTP status."""

    seen: int = 0
    signed: int = 0
    resolved: int = 0
    left_unsigned: int = 0
    left_unresolved: int = 0
    errors: Counter[str] = field(default_factory=Counter)


def fate_of(case_id: str) -> Fate:
    """Deterministic per case, so a re-run leaves the same cases open."""
    roll = int(hashlib.sha256(case_id.encode()).hexdigest()[:8], 16) / 2**32
    if roll < LEAVE_UNSIGNED_SHARE:
        return "leave"
    if roll < LEAVE_UNSIGNED_SHARE + LEAVE_UNRESOLVED_SHARE:
        return "sign_only"
    return "resolve"


async def run_departments(
    client: DemoClient, stop: asyncio.Event, bar: tqdm, *, concurrency: int = 8, poll_seconds: float = 1.0
) -> DepartmentTally:
    """Poll each department's dispatched work items until `stop` is set."""
    desk = _Desk(client, stop, bar, asyncio.Semaphore(concurrency), poll_seconds)
    await asyncio.gather(*(desk.poll(d) for d in DEPARTMENTS))
    return desk.tally


@dataclass
class _Desk:
    """Shared state of the three simulated department systems."""

    client: DemoClient
    stop: asyncio.Event
    bar: tqdm
    limit: asyncio.Semaphore
    poll_seconds: float
    tally: DepartmentTally = field(default_factory=DepartmentTally)
    seen: set[str] = field(default_factory=set)

    async def poll(self, department: str) -> None:
        while not self.stop.is_set():
            # By case: a case dispatched meanwhile with an earlier time shifts the pages, so one listing can name a
            # case twice, and signing it twice was a 409 in the tally.
            listed = {str(i["case_id"]): i for i in await self._dispatched(department)}
            new = [item for case_id, item in listed.items() if case_id not in self.seen]
            self.seen.update(listed)
            if new:
                self.tally.seen += len(new)
                self.bar.total = self.tally.seen
                self.bar.refresh()
            await asyncio.gather(*(self._handle(department, item) for item in new))
            if not new:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stop.wait(), self.poll_seconds)

    async def _dispatched(self, department: str) -> list[dict[str, Any]]:
        """Every dispatched work item, page by page (the cases we leave unsigned stay in this list)."""
        items: list[dict[str, Any]] = []
        while True:
            page = await self.client.work_items(department, limit=PAGE_SIZE, offset=len(items))
            items += page
            if len(page) < PAGE_SIZE:
                return items

    async def _handle(self, department: str, item: dict[str, Any]) -> None:
        case_id = str(item["case_id"])
        fate, rng = fate_of(case_id), random.Random(case_id)
        async with self.limit:
            if fate == "leave":
                self.tally.left_unsigned += 1
            elif await self._step("sign", self.client.sign(department, case_id, person_name(rng))):
                self.tally.signed += 1
                if fate == "sign_only":
                    self.tally.left_unresolved += 1
                else:
                    result = resolution_text(item.get("item_code"), rng)
                    if await self._step("resolve", self.client.resolve(department, case_id, result)):
                        self.tally.resolved += 1
        self.bar.update()

    async def _step(self, step: str, call: Awaitable[httpx.Response]) -> bool:
        resp = await call
        if not resp.is_success:
            self.tally.errors[f"{step} {resp.status_code}"] += 1
        return resp.is_success
