"""Simulated grid workers: post reports to intake concurrently, retrying what a crash or an outage refused.

A report counts as accepted only when intake answered 2xx (202 new, or 200 when a retry finds it stored)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import httpx

from gridloop.auth.credentials import Credentials
from gridloop.demo.reports import ReportDraft

RETRYABLE = {429, 500, 502, 503, 504}


@dataclass
class Ledger:
    """What the workers know: the case id of every accepted report, and what was refused."""

    accepted: dict[str, str] = field(default_factory=dict)  # client_report_id -> case_id
    rejected: dict[str, int] = field(default_factory=dict)  # client_report_id -> status (a 4xx)
    unconfirmed: set[str] = field(default_factory=set)  # gave up without a 2xx
    retries: int = 0
    posted: int = 0


async def post_reports(
    drafts: list[ReportDraft],
    intake_url: str,
    ledger: Ledger,
    *,
    concurrency: int,
    rate: float,
    give_up_after: float = 300.0,
) -> None:
    """Post every draft at about `rate` reports per second from `concurrency` workers."""
    queue: asyncio.Queue[tuple[int, ReportDraft]] = asyncio.Queue()
    for item in enumerate(drafts):
        queue.put_nowait(item)
    started = time.monotonic()
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    credentials = Credentials()  # each report is posted with its own worker's credential
    async with httpx.AsyncClient(base_url=intake_url, timeout=10, limits=limits) as client:

        async def worker() -> None:
            while not queue.empty():
                index, draft = queue.get_nowait()
                delay = started + index / rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                await _post_one(client, draft, ledger, give_up_after, credentials)

        await asyncio.gather(*(worker() for _ in range(concurrency)))


async def _post_one(
    client: httpx.AsyncClient, draft: ReportDraft, ledger: Ledger, give_up_after: float, credentials: Credentials
) -> None:
    deadline = time.monotonic() + give_up_after
    pause = 0.2
    ledger.posted += 1
    while True:
        try:
            body = draft.api_body()
            response = await client.post("/v1/reports", json=body, headers=credentials.worker(body["worker_id"]))
            if response.is_success:
                ledger.accepted[draft.client_report_id] = response.json()["case_id"]
                return
            if response.status_code not in RETRYABLE:
                ledger.rejected[draft.client_report_id] = response.status_code
                return
        except httpx.TransportError:
            pass  # intake killed or restarting; the report may or may not be stored: ask again
        if time.monotonic() > deadline:
            ledger.unconfirmed.add(draft.client_report_id)
            return
        ledger.retries += 1
        await asyncio.sleep(pause)
        pause = min(pause * 2, 3.0)
