"""Run a service under uvicorn; SIGTERM triggers a graceful shutdown through the lifespan."""

from __future__ import annotations

from collections.abc import Callable

import uvicorn
from fastapi import FastAPI

from gridloop.servicekit.settings import ServiceSettings


def serve(make_app: Callable[[], FastAPI], settings: ServiceSettings) -> int:
    config = uvicorn.Config(
        make_app,
        factory=True,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=10,
        loop="uvloop",
        http="httptools",
    )
    uvicorn.Server(config).run()
    return 0
