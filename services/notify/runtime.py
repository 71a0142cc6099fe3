"""What the notify routes need beyond the shared runtime: its settings and an HTTP client."""

from __future__ import annotations

import httpx

from gridloop.delivery.db import Database
from gridloop.servicekit.clock import Clock
from gridloop.servicekit.runtime import Runtime
from services.notify.settings import NotifySettings
from services.notify.tables import inbox


class NotifyRuntime(Runtime):
    settings: NotifySettings

    def __init__(self, settings: NotifySettings, db: Database, *, clock: Clock) -> None:
        super().__init__("notify", settings, db, inbox=inbox, clock=clock)
        self.http = httpx.AsyncClient()  # shared by the SMS gateway and webhook channels

    async def stop(self) -> None:
        await super().stop()
        await self.http.aclose()
