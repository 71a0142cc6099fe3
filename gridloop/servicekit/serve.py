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
    uvicorn.Server(server_config(make_app, host=settings.host, port=settings.port)).run()
    return 0
