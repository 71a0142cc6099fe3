"""A grid worker's own reports and a live stream of their outcomes (Server-Sent Events). A worker sees only the
cases they reported: the credential names the worker, and every query is restricted to it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from fastapi.sse import EventSourceResponse, ServerSentEvent

from gridloop.servicekit.app import RuntimeDep
from services.intake.deps import OperatorOnly, WorkerDep
from services.intake.schemas import WorkerFeedStats, WorkerReportsPage, WorkerReportView
from services.intake.settings import IntakeSettings
from services.intake.worker_feed import FeedSignal, feed_stats, last_update_id, reports_page, updates_after

router = APIRouter(prefix="/v1/workers", tags=["worker feed"])


@router.get("/me/reports", response_model=WorkerReportsPage)
async def my_reports(
    worker: WorkerDep,
    runtime: RuntimeDep,
    status: Annotated[str | None, Query(max_length=40, description="only reports currently in this status")] = None,
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=100)] = 20,
) -> WorkerReportsPage:
    """The signed-in worker's reports, newest first, each with its latest outcome."""
    async with runtime.db.engine.connect() as conn:
        total, reports = await reports_page(
            conn, worker_id=worker.subject, status=status, page=page, page_size=page_size
        )
    return WorkerReportsPage(
        total=total,
        page=page,
        page_size=page_size,
        reports=[
            WorkerReportView(
                case_id=r.case_id,
                status=r.status,
                reported_at=r.reported_at,
                updated_at=r.updated_at,
                description=r.description,
                latest=r.latest,
            )
            for r in reports
        ],
    )


@router.get("/me/reports/stream", response_class=EventSourceResponse)
async def my_report_stream(
    request: Request,
    worker: WorkerDep,
    runtime: RuntimeDep,
    last_event_id: Annotated[str | None, Header(description="resume after this update (the browser sends it)")] = None,
) -> AsyncIterator[ServerSentEvent]:
    """Outcomes of the signed-in worker's reports as they happen (event `status`, id = the update's cursor). Without
    `Last-Event-ID` the stream starts with what happens from now on."""
    signal: FeedSignal = request.app.state.worker_feed
    settings = runtime.settings
    assert isinstance(settings, IntakeSettings)
    poll = settings.worker_stream_poll_seconds
    async with runtime.db.engine.connect() as conn:
        after = int(last_event_id) if last_event_id and last_event_id.isdigit() else None
        if after is None:
            after = await last_update_id(conn, worker_id=worker.subject)
    yield ServerSentEvent(comment="connected", retry=int(poll * 1000))
    while not await request.is_disconnected():
        change = signal.next_change()
        async with runtime.db.engine.connect() as conn:
            rows = await updates_after(conn, worker_id=worker.subject, after=after)
        for row in rows:
            after = row.id
            yield ServerSentEvent(id=str(row.id), event="status", data=row.model_dump(mode="json"))
        if not rows:
            try:
                await asyncio.wait_for(change.wait(), poll)
            except TimeoutError:
                yield ServerSentEvent(comment="keep-alive")


@router.get("/updates/stats", response_model=WorkerFeedStats, dependencies=[OperatorOnly])
async def worker_feed_stats(runtime: RuntimeDep) -> WorkerFeedStats:
    """How many workers were told about their reports, and how many outcomes by step (operators)."""
    async with runtime.db.engine.connect() as conn:
        return WorkerFeedStats(**await feed_stats(conn))
