"""Routes of the weekly assessment report: the HTML built from the rate queries when asked (weekly.py), and the
reports the schedule published (publishing.py), listed and served as files."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response

from gridloop.servicekit.app import RuntimeDep
from gridloop.servicekit.errors import unprocessable
from services.departments.deps import NowDep, OperatorDep
from services.departments.publishing import FILE_NAME, MEDIA_TYPES, list_published, published_file
from services.departments.schemas import PublishedFileView, PublishedReportView
from services.departments.weekly import BadWeek, build_weekly
from services.departments.weekly_render import render

router = APIRouter(prefix="/v1/reports", tags=["reports"])
OPERATORS_ONLY: dict[int | str, dict[str, Any]] = {403: {"description": "operators only"}}


@router.get("/weekly/{week}", response_class=HTMLResponse, responses=OPERATORS_ONLY)
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


@router.get("/weekly", responses=OPERATORS_ONLY)
async def published_reports(runtime: RuntimeDep, caller: OperatorDep) -> list[PublishedReportView]:
    """The weekly reports the schedule published, newest week first, each as it stood when it was built."""
    async with runtime.db.engine.connect() as conn:
        published = await list_published(conn)
    return [
        PublishedReportView(
            week=report.week,
            built_at=report.built_at,
            paths=report.paths,
            files=[
                PublishedFileView(
                    name=file.name,
                    url=f"/v1/reports/files/{file.name}",
                    media_type=MEDIA_TYPES[file.kind],
                    size=file.size,
                )
                for file in report.files
            ],
        )
        for report in published
    ]


@router.get(
    "/files/{name}",
    response_class=Response,
    responses={**OPERATORS_ONLY, 404: {"description": "no such report published"}},
)
async def published_report_file(
    name: Annotated[str, Path(pattern=FILE_NAME.pattern, examples=["weekly-2026-W49.pdf"])],
    runtime: RuntimeDep,
    caller: OperatorDep,
) -> Response:
    """A published report's file (weekly-2026-W49.html, .pdf or .png): the bytes written to the reports directory."""
    async with runtime.db.engine.connect() as conn:
        found = await published_file(conn, name)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"{name} has not been published")
    content, media_type = found
    return Response(content, media_type=media_type, headers={"Content-Disposition": f'inline; filename="{name}"'})
