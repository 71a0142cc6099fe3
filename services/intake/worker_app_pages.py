"""The grid worker app's routes (/app): the report form, photo upload, posting a report, "my reports" and their
live outcomes through the same route functions as the REST API (`post_report`, the worker feed's
`my_reports` and `my_report_stream`), and signed photo links (/media)."""

# No `from __future__ import annotations`: FastAPI must see the session dependency built in this function.

import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Header, HTTPException, Query, Request, UploadFile
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.sse import EventSourceResponse, ServerSentEvent

from gridloop.consoles.kit import Console, ConsoleSession, render, session_dependency, sign_in_router
from gridloop.consoles.media import photo_link_valid
from gridloop.servicekit.app import RuntimeDep
from services.intake import api, worker_app, worker_feed_api
from services.intake.deps import AdmissionListDep, RegistryDep, ReportDeskDep, WorkerLimitDep
from services.intake.schemas import ReportIn
from services.intake.settings import IntakeSettings

HERE = Path(__file__).parent
# What the worker reads when the API refuses a report (the API's English detail stays in the audit log).
REFUSALS_ZH = {
    401: "登录已失效，请重新登录后再发送。",
    403: "您未被分配到该网格，或凭证不属于本人。",
    404: "未找到该事项。",
    409: "该事项状态已变化，请刷新。",
    413: "内容过大。",
    422: "上报内容不完整或格式有误，请检查后重新填写。",
    429: "上报过于频繁，稍后将自动重试。",
    503: "系统繁忙，稍后将自动重试。",
}


def worker_console(settings: IntakeSettings) -> Console:
    return Console(
        prefix="/app",
        title="网格员上报",
        role="worker",
        templates_dir=HERE / "templates" / "worker",
        static_dir=HERE / "static",
        secure_cookie=settings.console_secure_cookie,
    )


def worker_app_router(settings: IntakeSettings) -> APIRouter:
    console = worker_console(settings)
    templates = console.templates()
    Session = Annotated[ConsoleSession, Depends(session_dependency(console))]
    router = APIRouter(include_in_schema=False)
    router.include_router(sign_in_router(console, home="/app"))

    @router.get("/app", response_class=HTMLResponse)
    async def report_form(
        request: Request, session: Session, registry: RegistryDep, admission_list: AdmissionListDep
    ) -> HTMLResponse:
        worker_id = session.principal.subject
        return render(
            templates,
            request,
            "app.html",
            session,
            {
                "worker_id": worker_id,
                "grids": worker_app.grids_of(registry, worker_id),
                "items": worker_app.admission_items(admission_list),
                "photo_max_mb": settings.photo_max_bytes // (1024 * 1024),
                "max_photos": worker_app.MAX_PHOTOS,
                "status_labels": worker_app.STATUS_ZH,
            },
        )

    @router.get("/app/sw.js")
    async def service_worker() -> FileResponse:
        """Served from /app so it may keep the app's pages for offline use (its scope is /app)."""
        return FileResponse(
            HERE / "static" / "sw.js",
            media_type="text/javascript",
            # Its scope is /app itself (the page), one level above the script's own directory.
            headers={"Cache-Control": "no-cache", "Service-Worker-Allowed": "/app"},
        )

    @router.post("/app/photos")
    async def upload_photo(
        session: Session,
        runtime: RuntimeDep,
        photo: Annotated[UploadFile, File()],
        client_report_id: Annotated[uuid.UUID, Form()],
        index: Annotated[int, Form(ge=0, lt=worker_app.MAX_PHOTOS)],
    ) -> JSONResponse:
        data = await photo.read(settings.photo_max_bytes + 1)
        try:
            content_type = worker_app.photo_type(data, max_bytes=settings.photo_max_bytes)
        except worker_app.PhotoRefused as exc:
            return JSONResponse({"detail": str(exc)}, status_code=422)
        photo_id = worker_app.photo_id_for(session.principal.subject, client_report_id, index)
        async with runtime.db.engine.begin() as conn:
            mine = await worker_app.store_photo(
                conn,
                photo_id=photo_id,
                worker_id=session.principal.subject,
                content_type=content_type,
                data=data,
                now=datetime.now(UTC),
            )
        if not mine:
            return JSONResponse({"detail": "照片编号冲突，请重新拍照"}, status_code=409)
        return JSONResponse({"url": f"{settings.public_base_url.rstrip('/')}/media/{photo_id}"}, status_code=201)

    @router.post("/app/reports")
    async def send_report(
        report: ReportIn,
        request: Request,
        session: Session,
        registry: RegistryDep,
        desk: ReportDeskDep,
        limit: WorkerLimitDep,
        admission_list: AdmissionListDep,
    ) -> JSONResponse:
        """The API's own `post_report`: the same checks, idempotency by client_report_id and audit entry."""
        answer = Response(status_code=202)  # post_report sets 200 for a report it had already
        try:
            accepted = await api.post_report(
                report, request, answer, session.principal, registry, desk, limit, admission_list
            )
        except HTTPException as exc:
            headers = (
                {"Retry-After": exc.headers["Retry-After"]} if exc.headers and "Retry-After" in exc.headers else None
            )
            return JSONResponse(
                {"detail": REFUSALS_ZH.get(exc.status_code, "上报未被接受。")},
                status_code=exc.status_code,
                headers=headers,
            )
        return JSONResponse(accepted.model_dump(mode="json"), status_code=answer.status_code)

    @router.get("/app/mine")
    async def my_reports(
        session: Session, runtime: RuntimeDep, page_size: Annotated[int, Query(ge=1, le=100)] = 30
    ) -> JSONResponse:
        """ "我的上报": the worker feed's own route (`GET /v1/workers/me/reports`), each report as the app shows it."""
        reports = await worker_feed_api.my_reports(session.principal, runtime, None, 1, page_size)
        return JSONResponse(
            {
                "reports": [worker_app.report_card(r) for r in reports.reports],
                "total": reports.total,
                # the stream resumes after this: an outcome written while the list was read is not lost
                "newest_update": max((r.latest.id for r in reports.reports if r.latest), default=0),
            },
            headers={"Cache-Control": "no-store"},
        )

    @router.get("/app/mine/stream", response_class=EventSourceResponse)
    async def my_report_stream(
        request: Request,
        session: Session,
        runtime: RuntimeDep,
        last_event_id: Annotated[str | None, Header()] = None,
        after: Annotated[int | None, Query(ge=0)] = None,
    ) -> AsyncIterator[ServerSentEvent]:
        """The worker feed's stream (`GET /v1/workers/me/reports/stream`). The page opens it with `after`, the
        newest update it has shown, so nothing between its list and the stream is lost; the browser's reconnects
        send Last-Event-ID."""
        resume = last_event_id or (str(after) if after is not None else None)
        async for event in worker_feed_api.my_report_stream(request, session.principal, runtime, resume):
            yield event

    @router.get("/media/{photo_id}")
    async def photo(
        photo_id: uuid.UUID,
        request: Request,
        runtime: RuntimeDep,
        exp: Annotated[int, Query()],
        sig: Annotated[str, Query(max_length=64)],
    ) -> Response:
        """A photo, to whoever holds a link signed by a console within the hour (gridloop/consoles/media.py)."""
        issuer = request.app.state.auth.tokens
        if not photo_link_valid(issuer, str(photo_id), expires=exp, signature=sig, now=time.time()):
            raise HTTPException(403, "photo link invalid or expired")
        async with runtime.db.engine.connect() as conn:
            found = await worker_app.load_photo(conn, str(photo_id))
        if found is None:
            raise HTTPException(404, "no such photo")
        content_type, data = found
        return Response(data, media_type=content_type, headers={"Cache-Control": "private, max-age=3600"})

    return router
