"""What notify's routes learn from the request: the runtime (database, settings, clock, cipher) and who is
calling (gridloop/auth/deps.py). The one place the notify API gets its dependencies from."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Depends, Path, Request

from gridloop.auth.deps import CurrentPrincipal, OperatorDep, OperatorOnly
from gridloop.delivery.db import Database
from services.notify.runtime import NotifyRuntime
from services.notify.settings import NotifySettings


# Dependencies are `async def` even when they do no I/O: FastAPI runs a plain `def` dependency in a worker thread.
async def get_notify(request: Request) -> NotifyRuntime:
    runtime: NotifyRuntime = request.app.state.runtime
    return runtime


NotifyDep = Annotated[NotifyRuntime, Depends(get_notify)]


async def get_db(runtime: NotifyDep) -> Database:
    return runtime.db


async def get_settings(runtime: NotifyDep) -> NotifySettings:
    return runtime.settings


async def get_now(runtime: NotifyDep) -> datetime:
    return runtime.clock.now()


DatabaseDep = Annotated[Database, Depends(get_db)]
SettingsDep = Annotated[NotifySettings, Depends(get_settings)]
NowDep = Annotated[datetime, Depends(get_now)]

__all__ = [
    "CurrentPrincipal",
    "DatabaseDep",
    "NotifyDep",
    "NowDep",
    "OperatorDep",
    "OperatorOnly",
    "SettingsDep",
    "get_notify",
]

# A row id in a path: a positive BIGINT, so an id out of its range is a 422, not a database error.
RowId = Annotated[int, Path(ge=1, le=2**63 - 1)]

