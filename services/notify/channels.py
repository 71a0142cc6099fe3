"""Channel adapters: how a message reaches a resident. Each raises TransientError or PermanentError."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import httpx


class TransientError(Exception):
    """Worth retrying later (gateway down, 5xx, 429, timeout)."""


class PermanentError(Exception):
    """Retrying will not help (rejected number, 4xx)."""


@dataclass(frozen=True)
class OutgoingMessage:
    idempotency_key: str
    channel: str
    step: str
    body: str
    resident: dict


class Channel(Protocol):
    async def send(self, message: OutgoingMessage) -> None: ...


class LogFileChannel:
    """Appends each message as a JSON line (development, and the fallback when no gateway is configured)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._lock = asyncio.Lock()

    async def send(self, message: OutgoingMessage) -> None:
        line = json.dumps(
            {
                "at": datetime.now(UTC).isoformat(),
                "key": message.idempotency_key,
                "channel": message.channel,
                "step": message.step,
                "to": _address(message),
                "body": message.body,
            },
            ensure_ascii=False,
        )
        async with self._lock:
            await asyncio.to_thread(self._append, line)

    def _append(self, line: str) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        with self._path.open("a", encoding="utf-8") as f:
            f.write(line + "\n")


def _address(message: OutgoingMessage) -> str:
    phone = message.resident.get("phone", "")
    masked = phone[:3] + "****" + phone[-4:] if len(phone) >= 7 else "****"
    return message.resident.get("email") or masked if message.channel == "email" else masked


class HttpSmsGateway:
    """A provider-style SMS gateway: POST JSON, bearer key, idempotency key so retries are not sent twice."""

    def __init__(self, url: str, api_key: str, client: httpx.AsyncClient) -> None:
        self._url = url
        self._api_key = api_key
        self._client = client

    async def send(self, message: OutgoingMessage) -> None:
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
        if response.status_code == 429 or response.status_code >= 500:
            raise TransientError(f"gateway answered {response.status_code}")
        if response.status_code >= 400:
            raise PermanentError(f"gateway refused: {response.status_code} {response.text[:200]}")
