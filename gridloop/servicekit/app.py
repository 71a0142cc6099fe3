"""The FastAPI application every service is built from: lifespan, probes, metrics, body limit, error mapping,
credentials (`app.state.auth`), the audit log and its API."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gridloop.auth.access import AccessControl
from gridloop.auth.api import access_router
from gridloop.auth.audit import AuditMiddleware
from gridloop.delivery.db import UNAVAILABLE_ERRORS, is_unavailable
from gridloop.servicekit.gc_pauses import freeze_startup_heap, watch_gc_pauses
from gridloop.servicekit.logs import configure_logging
from gridloop.servicekit.runtime import Runtime
from gridloop.servicekit.settings import ServiceSettings
from gridloop.servicekit.tracing import Tracing

log = logging.getLogger(__name__)

HTTP_SECONDS = Histogram(
    "gridloop_http_request_duration_seconds",
    "HTTP request latency",
    ["method", "route", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
HTTP_ERRORS = Counter("gridloop_http_errors_total", "HTTP responses with status >= 500 or 503", ["route", "status"])


async def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


class BodyLimitAndMetrics:
    """Pure ASGI middleware: refuses bodies over the limit with 413 and records request latency. `larger_bodies`
    gives a few paths (file uploads) a limit of their own."""

    def __init__(self, app: ASGIApp, max_body_bytes: int, larger_bodies: Mapping[str, int] | None = None) -> None:
        self.app = app
        self.default_limit = max_body_bytes
        self.larger_bodies = dict(larger_bodies or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.larger_bodies.get(scope["path"], self.default_limit)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _too_large(limit)(scope, receive, send)
            return
        started, status = time.perf_counter(), [500]
        received = [0]

        async def limited_receive() -> Message:
            message = await receive()
            received[0] += len(message.get("body", b""))
            if received[0] > limit:
                raise _BodyTooLarge
            return message

        async def recording_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, limited_receive, recording_send)
        except _BodyTooLarge:
            status[0] = 413
            await _too_large(limit)(scope, receive, send)
        route = getattr(scope.get("route"), "path", "unmatched")
        HTTP_SECONDS.labels(scope["method"], route, str(status[0])).observe(time.perf_counter() - started)
        if status[0] >= 500:
            HTTP_ERRORS.labels(route, str(status[0])).inc()


class _BodyTooLarge(Exception):
    pass


def _too_large(limit: int) -> JSONResponse:
    return JSONResponse({"detail": f"request body exceeds {limit} bytes"}, status_code=413)


def create_app(
    *,
    name: str,
    settings: ServiceSettings,
    build: Callable[[ServiceSettings], Awaitable[Runtime]],
    routers: list[APIRouter],
    title: str,
    larger_bodies: Mapping[str, int] | None = None,
) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(name, settings.log_level)
        runtime = await build(settings)
        tracing: Tracing = app.state.tracing  # tests may have replaced it before the start (export_spans_to)
        runtime.use_tracing(tracing)
        await runtime.start()
        app.state.runtime = runtime
        watch_gc_pauses()
        if getattr(app.state, "freeze_gc_after_start", False):  # set by `serve()`: a process of its own
            log.info("%s: %d start-up objects frozen out of garbage collection", name, freeze_startup_heap())
        log.info("%s started on %s:%d", name, settings.host, settings.port)
        yield
        log.info("%s stopping", name)
        await runtime.stop()
        tracing.shutdown()

    app = FastAPI(title=title, lifespan=lifespan, version="1.0")
    app.state.tracing = Tracing.from_env(name)  # off unless OTEL_TRACES_EXPORTER names an exporter
    app.state.tracing.instrument_app(app)
    app.state.auth = AccessControl.from_settings(settings.auth)
    app.add_middleware(AuditMiddleware)
    app.add_middleware(BodyLimitAndMetrics, max_body_bytes=settings.max_body_bytes, larger_bodies=larger_bodies)
    for exc_class in (*UNAVAILABLE_ERRORS, DBAPIError):
        app.add_exception_handler(exc_class, _dependency_error)
    app.add_exception_handler(UnicodeEncodeError, _unstorable_text)
    for router in routers:
        app.include_router(router)
    app.include_router(access_router())
    app.include_router(_probes())
    return app


# SQLSTATEs of text PostgreSQL cannot store (NUL, bytes invalid in UTF-8): the caller's fault, not ours.
UNSTORABLE_TEXT = ("22021", "22P05")


def _unstorable(exc: BaseException | None) -> bool:
    while exc is not None:
        if getattr(exc, "sqlstate", None) in UNSTORABLE_TEXT or getattr(exc, "pgcode", None) in UNSTORABLE_TEXT:
            return True
        exc = getattr(exc, "orig", None) or exc.__cause__
    return False


async def _unstorable_text(request: Request, exc: Exception) -> JSONResponse:
    """A safety net behind the schemas: text with NUL or lone surrogates that reached the database is a 422."""
    return JSONResponse(
        {
            "detail": [
                {"loc": ["request"], "msg": "text contains characters that cannot be stored", "type": "value_error"}
            ]
        },
        status_code=422,
    )


async def _dependency_error(request: Request, exc: Exception) -> JSONResponse:
    """The database is unreachable or busy: say so with 503, never a 500 with a traceback."""
    if _unstorable(exc):
        return await _unstorable_text(request, exc)
    if isinstance(exc, PoolTimeoutError):  # every pooled connection stayed busy for the pool timeout: shed load
        log.warning("busy on %s %s: %s", request.method, request.url.path, exc)
        return JSONResponse(
            {"detail": "service busy (all database connections in use); retry later"},
            status_code=503,
            headers={"Retry-After": "1"},
        )
    if is_unavailable(exc):
        log.warning("dependency unavailable on %s %s: %s", request.method, request.url.path, exc)
        return JSONResponse(
            {"detail": "service temporarily unavailable (database unreachable, or a transient conflict); retry later"},
            status_code=503,
            headers={"Retry-After": "5"},
        )
    log.error("database error on %s %s: %s", request.method, request.url.path, exc)
    return JSONResponse({"detail": "internal error"}, status_code=500)


def _probes() -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz", responses={503: {"description": "a dependency is unreachable"}})
    async def readyz(runtime: RuntimeDep) -> Any:
        checks = await runtime.readiness()
        ready = all(checks.values())
        return JSONResponse({"ready": ready, "checks": checks}, status_code=200 if ready else 503)

    @router.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        # Rendered in a worker thread: departments' ~300 kB took ~35 ms, and on the event loop that was a ~35 ms
        # stall of every consumer and request on each scrape. In a thread the loop keeps its turns (the GIL
        # switches every 5 ms). The metrics themselves are thread-safe.
        return Response(await asyncio.to_thread(generate_latest), media_type=CONTENT_TYPE_LATEST)

    return router
