"""Real stand-ins for what notify talks to: an HTTP SMS gateway (which also receives webhooks) and an SMTP
server, both on loopback; a clock tests can move; and the four services with notify wired to them."""

from __future__ import annotations

import asyncio
import email
import email.policy
import itertools
import socket
import uuid
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn
from aiosmtpd.controller import Controller
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from gridloop.servicekit.clock import ShiftedClock
from tests.support.apps import Services, build_apps, running
from tests.support.namespace import Namespace
from tests.support.polling import wait_for


@dataclass
class GatewayRequest:
    phone: str
    content: str
    key: str
    status: int
    message_id: str | None


@dataclass
class WebhookRequest:
    name: str
    headers: dict[str, str]
    body: bytes


class SmsGatewayStandIn:
    """Records every send; answers with programmed statuses first (e.g. 500, 500), then 200 and a message id.

    Like a careless provider it does not deduplicate, so a test sees every send notify makes."""

    def __init__(self) -> None:
        self.requests: list[GatewayRequest] = []
        self.webhooks: list[WebhookRequest] = []
        self._failures: deque[int] = deque()
        self._ids = itertools.count(1)
        self.api_key = "test-gateway-key"
        self.app = Starlette(
            routes=[
                Route("/sms/send", self._send, methods=["POST"]),
                Route("/hooks/{name}", self._hook, methods=["POST"]),
            ]
        )

    def fail_next(self, *statuses: int) -> None:
        self._failures.extend(statuses)

    def to(self, phone: str) -> list[GatewayRequest]:
        return [r for r in self.requests if r.phone == phone]

    def accepted(self, phone: str) -> list[GatewayRequest]:
        return [r for r in self.to(phone) if r.status == 200]

    async def _send(self, request: Request) -> JSONResponse:
        if request.headers.get("authorization") != f"Bearer {self.api_key}":
            return JSONResponse({"error": "bad key"}, status_code=401)
        body = await request.json()
        status = self._failures.popleft() if self._failures else 200
        message_id = f"gw-{next(self._ids)}-{uuid.uuid4().hex[:8]}" if status == 200 else None
        self.requests.append(
            GatewayRequest(body["to"], body["content"], request.headers["idempotency-key"], status, message_id)
        )
        if status != 200:
            return JSONResponse({"error": "programmed failure"}, status_code=status)
        return JSONResponse({"message_id": message_id, "status": "accepted"})

    async def _hook(self, request: Request) -> JSONResponse:
        self.webhooks.append(WebhookRequest(request.path_params["name"], dict(request.headers), await request.body()))
        return JSONResponse({"ok": True})


@dataclass
class ReceivedMail:
    sender: str
    recipients: list[str]
    subject: str
    body: str
    message_id: str


@dataclass
class SmtpStandIn:
    """A real SMTP server (aiosmtpd) on loopback that keeps what it receives."""

    mails: list[ReceivedMail] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # aiosmtpd names the hook
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.mails.append(
            ReceivedMail(
                sender=envelope.mail_from,
                recipients=list(envelope.rcpt_tos),
                subject=str(message["Subject"]),
                body=message.get_body(("plain",)).get_content(),
                message_id=str(message["Message-ID"]),
            )
        )
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[ReceivedMail]:
        return [m for m in self.mails if address in m.recipients]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@asynccontextmanager
async def serving(app: Any, port: int | None = None) -> AsyncIterator[str]:
    """Serve an ASGI app over real HTTP on loopback; yields its base URL."""
    port = port or free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_level="warning"))
    task = asyncio.create_task(server.serve())

    async def started() -> bool:
        if task.done():
            task.result()  # surfaces a failed start
        return server.started

    try:
        await wait_for(started, timeout=10, what=f"HTTP server on port {port}")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@asynccontextmanager
async def smtp_server() -> AsyncIterator[tuple[SmtpStandIn, int]]:
    handler = SmtpStandIn()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    await asyncio.to_thread(controller.start)
    try:
        yield handler, port
    finally:
        await asyncio.to_thread(controller.stop)


WEBHOOK_SECRET = "whsec_Z3JpZGxvb3AtdGVzdC13ZWJob29rLXNlY3JldC0zMmI="


@dataclass
class NotifyStack:
    services: Services
    gateway: SmsGatewayStandIn
    gateway_url: str
    smtp: SmtpStandIn
    clock: ShiftedClock
    callback_token: str = "test-callback-token"

    @property
    def notify(self):
        return self.services.notify

    def callback_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.callback_token}"}


@asynccontextmanager
async def notify_stack(
    ns: Namespace, workdir: Path, *, clock: ShiftedClock, **notify_settings: Any
) -> AsyncIterator[NotifyStack]:
    """The four services in-process; notify sends SMS to the gateway stand-in, e-mail to the SMTP stand-in and
    signs webhooks, on the given clock."""
    from services.notify.main import make_app
    from services.notify.settings import NotifySettings

    gateway = SmsGatewayStandIn()
    async with serving(gateway.app) as gateway_url, smtp_server() as (smtp, smtp_port):
        settings = NotifySettings(
            **{
                "database_url": ns.database_urls["notify"],
                "kafka": ns.kafka(),
                "log_channel_path": workdir / "notify-messages.jsonl",
                "delivery_poll_seconds": 0.05,
                "sms_gateway_url": f"{gateway_url}/sms/send",
                "sms_api_key": gateway.api_key,
                "sms_callback_token": "test-callback-token",
                "smtp_host": "127.0.0.1",
                "smtp_port": smtp_port,
                "webhook_secret": WEBHOOK_SECRET,
                "retry_base_seconds": 0.05,
                "retry_cap_seconds": 0.5,
                "feedback_scan_seconds": 0.1,
                **notify_settings,
            }
        )
        apps = build_apps(ns, notify_log=workdir / "unused.jsonl")
        apps["notify"] = make_app(settings, clock=clock)
        async with running(apps) as services:
            yield NotifyStack(services, gateway, gateway_url, smtp, clock)
