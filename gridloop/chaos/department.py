"""A simulated department worker: signs for and resolves every work item as it arrives, over the REST API."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import httpx

from gridloop.auth.credentials import Credentials

CREDENTIALS = Credentials()
OPERATOR = CREDENTIALS.operator("混沌值班员")


@dataclass
class DeskStats:
    signed: set[str] = field(default_factory=set)
    resolved: set[str] = field(default_factory=set)
    errors: int = 0
    idle: bool = False  # the last look found nothing to do


async def work_cases(departments_url: str, stats: DeskStats, stop: asyncio.Event, *, parallel: int = 8) -> None:
    """Until stopped: list dispatched and signed items, sign and resolve each; retry through outages."""
    gate = asyncio.Semaphore(parallel)
    async with httpx.AsyncClient(base_url=departments_url, timeout=10) as client:
        while not stop.is_set():
            try:
                items = await _open_items(client)
            except (httpx.TransportError, _Unavailable):
                stats.errors += 1
                await asyncio.sleep(0.5)
                continue
            stats.idle = not items

            async def handle(item: dict) -> None:
                async with gate:
                    await _finish(client, item, stats)

            await asyncio.gather(*(handle(item) for item in items))
            if not items:
                await asyncio.sleep(0.3)


class _Unavailable(Exception):
    pass


async def _open_items(client: httpx.AsyncClient) -> list[dict]:
    items: list[dict] = []
    for status in ("dispatched", "signed"):
        response = await client.get("/v1/work-items", params={"status": status, "limit": 500}, headers=OPERATOR)
        if response.status_code != 200:
            raise _Unavailable(response.status_code)
        items += response.json()["items"]
    return items


async def _finish(client: httpx.AsyncClient, item: dict, stats: DeskStats) -> None:
    case_id, department = item["case_id"], CREDENTIALS.department(item["department"])
    try:
        if item["status"] == "dispatched":
            signed = await client.post(
                f"/v1/work-items/{case_id}/sign", json={"handler": "网格联勤"}, headers=department
            )
            if signed.status_code == 200:
                stats.signed.add(case_id)
            elif signed.status_code != 409:  # 409: signed already (a retry after a lost answer)
                stats.errors += 1
                return
        resolved = await client.post(
            f"/v1/work-items/{case_id}/resolve", json={"result": "已现场处置完毕，居民确认"}, headers=department
        )
        if resolved.status_code == 200:
            stats.resolved.add(case_id)
        elif resolved.status_code != 409:
            stats.errors += 1
    except httpx.TransportError:
        stats.errors += 1  # departments killed mid-request: the next round looks again
