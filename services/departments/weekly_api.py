"""Route of the weekly assessment report: the HTML, built from the rate queries when asked (weekly.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse

from gridloop.servicekit.app import RuntimeDep
from gridloop.servicekit.errors import unprocessable
from services.departments.deps import NowDep, OperatorDep
from services.departments.weekly import BadWeek, build_weekly
from services.departments.weekly_render import render

router = APIRouter(prefix="/v1/reports", tags=["reports"])


@router.get("/weekly/{week}", response_class=HTMLResponse, responses={403: {"description": "operators only"}})
async def weekly_report(
    week: Annotated[str, Path(pattern=r"^\d{4}-W\d{2}$", examples=["2026-W49"])],
    runtime: RuntimeDep,
    caller: OperatorDep,
    now: NowDep,
) -> HTMLResponse:
    """三率考核周报 for the district leadership, as of now (a past week's numbers are recomputed, not frozen)."""
    try:
        async with runtime.db.engine.connect() as conn:
            report = await build_weekly(conn, week, now)
    except BadWeek as exc:
        raise unprocessable(str(exc), "path", "week") from None
    rendered = await run_in_threadpool(render, report)  # matplotlib: CPU work off the event loop
    return HTMLResponse(rendered.html)
