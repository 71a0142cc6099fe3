"""Run a service under uvicorn; SIGTERM triggers a graceful shutdown through the lifespan."""

from __future__ import annotations

from collections.abc import Callable

import uvicorn
from fastapi import FastAPI

from gridloop.servicekit.settings import ServiceSettings


def server_config(make_app: Callable[[], FastAPI], *, host: str, port: int) -> uvicorn.Config:
    """The uvicorn settings every service runs with (the benchmark's trivial endpoint uses them too)."""
    return uvicorn.Config(
        make_app,
        factory=True,
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=10,
        loop="uvloop",
        http="httptools",
    )


def serve(make_app: Callable[[], FastAPI], settings: ServiceSettings) -> int:
    def make_process_app() -> FastAPI:
        app = make_app()
        # The service has this process to itself: once started, its heap is frozen out of garbage collection
        # (gridloop/servicekit/gc_pauses.py). Apps the tests run in-process share theirs and do not freeze.
        app.state.freeze_gc_after_start = True
        return app

    uvicorn.Server(server_config(make_process_app, host=settings.host, port=settings.port)).run()
    return 0
