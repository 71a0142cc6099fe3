"""Channel adapters: how a message reaches a resident. Each raises TransientError or PermanentError.

`send` returns the provider's message id when the channel has one (the SMS gateway names it in receipts)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol

import aiosmtplib
import httpx

from gridloop.contracts.events import mask_phone

EMAIL_SUBJECT = "【金牛网格】您反映问题的办理进度"


class TransientError(Exception):
    """Worth retrying later (gateway down, 5xx, 429, timeout)."""


class PermanentError(Exception):
    """Retrying will not help (rejected number, 4xx, no address)."""


@dataclass(frozen=True)
class OutgoingMessage:
    idempotency_key: str
    channel: str
    step: str
    body: str
    resident: dict
    case_id: str = ""
    link: str = ""
    context: dict = field(default_factory=dict)  # the values the body was rendered with (SMS template parameters)


class Channel(Protocol):
    async def send(self, message: OutgoingMessage) -> str | None: ...


def mask_email(email: str) -> str:
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}" if domain else "***"


def masked_address(message: OutgoingMessage) -> str:
    """Where a message went, safe to log."""
    if message.channel == "email":
        return mask_email(message.resident.get("email") or "")
    if message.channel == "webhook":
        return httpx.URL(message.resident.get("webhook_url") or "").host or "?"
    return mask_phone(message.resident.get("phone", ""))


class LogFileChannel:
    """Appends each message as a JSON line (development, and the fallback when no gateway is configured)."""

    def __init__(self, path: Path) -> None:
        self._path = path

    async def send(self, message: OutgoingMessage) -> str | None:
        line = json.dumps(
            {
                "at": datetime.now(UTC).isoformat(),
                "key": message.idempotency_key,
                "channel": message.channel,
                "step": message.step,
                "to": masked_address(message),
                "body": message.body,
            },
            ensure_ascii=False,
        )
        # Appended on the event loop: a line to a local file takes microseconds, a hop to a worker thread (and
        # opening the file each time) cost notify a fifth of its CPU. One write per line, so lines never interleave.
        self._path.parent.mkdir(parents=True, exist_ok=True)
        with self._path.open("a", encoding="utf-8") as f:
            f.write(line + "\n")
        return None


def _raise_for_http_status(response: httpx.Response, what: str) -> None:
    if response.status_code in (408, 429) or response.status_code >= 500:
        raise TransientError(f"{what} answered {response.status_code}")
    if response.status_code >= 400:
        raise PermanentError(f"{what} refused: {response.status_code} {response.text[:200]}")


class HttpSmsGateway:
    """A provider-style SMS gateway: POST JSON, bearer key, idempotency key so retries are not sent twice."""

    def __init__(self, url: str, api_key: str, client: httpx.AsyncClient) -> None:
        self._url = url
        self._api_key = api_key
        self._client = client

    async def send(self, message: OutgoingMessage) -> str | None:
        try:
            response = await self._client.post(
                self._url,
                json={
                    "to": message.resident["phone"],
                    "content": message.body,
                    "sign_name": "金牛网格",
                    "idempotency_key": message.idempotency_key,
                },
                headers={"Authorization": f"Bearer {self._api_key}", "Idempotency-Key": message.idempotency_key},
                timeout=5,
            )
        except httpx.HTTPError as exc:
            raise TransientError(f"gateway unreachable: {type(exc).__name__}") from exc
        _raise_for_http_status(response, "gateway")
        try:
            return str(response.json()["message_id"])
        except (ValueError, KeyError, TypeError):
            return None  # accepted without an id: no receipt will name it


class SmtpChannel:
    """E-mail over SMTP (aiosmtplib); one connection per message, which is plenty at residents' volumes."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        sender: str,
        username: str | None = None,
        password: str | None = None,
        starttls: bool = False,
        timeout: float = 10.0,
    ) -> None:
        self._options = {
            "hostname": host,
            "port": port,
            "username": username,
            "password": password,
            "start_tls": starttls,
            "timeout": timeout,
        }
        self._sender = sender

    async def send(self, message: OutgoingMessage) -> str | None:
        address = message.resident.get("email")
        if not address:
            raise PermanentError("resident chose e-mail but gave no address")
        email = EmailMessage()
        email["From"] = self._sender
        email["To"] = address
        email["Subject"] = EMAIL_SUBJECT
        # Lets a mail system drop a repeated delivery of the same message.
        email["Message-ID"] = f"<{message.idempotency_key}@gridloop.notify>"
        email.set_content(message.body)
        try:
            await aiosmtplib.send(email, **self._options)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            raise PermanentError(f"recipient refused: {_smtp_codes(exc)}") from exc
        except aiosmtplib.SMTPResponseException as exc:
            if 500 <= exc.code < 600:
                raise PermanentError(f"SMTP server refused: {exc.code}") from exc
            raise TransientError(f"SMTP server answered {exc.code}") from exc
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise TransientError(f"SMTP unreachable: {type(exc).__name__}") from exc
        return None


def _smtp_codes(exc: aiosmtplib.SMTPRecipientsRefused) -> str:
    return ",".join(str(r.code) for r in exc.recipients) or "refused"


def sign_webhook(secret: str, *, msg_id: str, timestamp: int, body: bytes) -> str:
    """Standard Webhooks signature: `v1,` + base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}"))."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


class WebhookChannel:
    """POSTs a JSON event to the resident's URL, signed per Standard Webhooks; the message id is the retry key."""

    def __init__(self, secret: str, client: httpx.AsyncClient, *, timeout: float = 5.0) -> None:
        self._secret = secret
        self._client = client
        self._timeout = timeout

    async def send(self, message: OutgoingMessage) -> str | None:
        url = message.resident.get("webhook_url")
        if not url:
            raise PermanentError("resident chose webhook but gave no URL")
        body = json.dumps(
            {
                "type": "case.status_changed",
                "timestamp": datetime.now(UTC).isoformat(),
                "data": {"case_id": message.case_id, "step": message.step, "text": message.body, "link": message.link},
            },
            ensure_ascii=False,
        ).encode()
        timestamp = int(datetime.now(UTC).timestamp())
        headers = {
            "content-type": "application/json",
            "webhook-id": message.idempotency_key,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign_webhook(
                self._secret, msg_id=message.idempotency_key, timestamp=timestamp, body=body
            ),
        }
        try:
            response = await self._client.post(url, content=body, headers=headers, timeout=self._timeout)
        except httpx.HTTPError as exc:
            raise TransientError(f"webhook unreachable: {type(exc).__name__}") from exc
        _raise_for_http_status(response, "webhook receiver")
        return None
