"""Kafka settings, producer factory and the CloudEvents binary binding used on every topic."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaProducer
from cloudevents.core.bindings import kafka as ce_kafka
from cloudevents.core.v1.event import CloudEvent
from pydantic import ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from gridloop.contracts.events import EVENT_TYPES, Event


class KafkaSettings(BaseSettings):
    """Kafka connection settings (env prefix KAFKA_)."""

    model_config = SettingsConfigDict(env_prefix="KAFKA_", extra="ignore")

    bootstrap_servers: str = "127.0.0.1:19092"
    topic_prefix: str = ""  # tests run in their own namespace, e.g. "t1a2b."
    linger_ms: int = 2
    max_retries: int = 3  # handler attempts before a message is dead-lettered
    retry_backoff_ms: int = 200
    poll_max_records: int = 200
    request_timeout_ms: int = 10_000

    def topic(self, logical: str) -> str:
        return f"{self.topic_prefix}{logical}"

    def logical(self, physical: str) -> str:
        return physical.removeprefix(self.topic_prefix)


def make_producer(settings: KafkaSettings, client_id: str) -> AIOKafkaProducer:
    """An idempotent producer that waits for all in-sync replicas."""
    return AIOKafkaProducer(
        bootstrap_servers=settings.bootstrap_servers,
        client_id=client_id,
        acks="all",
        enable_idempotence=True,
        linger_ms=settings.linger_ms,
        request_timeout_ms=settings.request_timeout_ms,
    )


@dataclass(frozen=True)
class Envelope:
    """An event with its CloudEvents attributes, as stored in the outbox and carried on Kafka."""

    event_id: uuid.UUID
    event_type: str
    source: str
    time: datetime
    key: str
    data: dict[str, Any]

    @classmethod
    def wrap(cls, event: Event, *, event_id: uuid.UUID, source: str, time: datetime | None = None) -> Envelope:
        return cls(
            event_id=event_id,
            event_type=event.event_type,
            source=source,
            time=time or datetime.now(UTC),
            key=event.key,
            data=event.model_dump(mode="json"),
        )


def encode(envelope: Envelope) -> tuple[list[tuple[str, bytes]], bytes, bytes]:
    """Envelope -> (headers, key, value) in CloudEvents Kafka binary mode."""
    event = CloudEvent(
        attributes={
            "id": str(envelope.event_id),
            "type": envelope.event_type,
            "source": envelope.source,
            "time": envelope.time,
            "specversion": "1.0",
            "datacontenttype": "application/json",
        },
        data=envelope.data,
    )
    message = ce_kafka.to_binary_event(event, key_mapper=lambda _e: envelope.key)
    return list(message.headers.items()), envelope.key.encode(), message.value


class PoisonMessage(Exception):
    """A record that can never be processed: undecodable, unknown type or schema-invalid."""


def decode(headers: list[tuple[str, bytes]] | tuple, key: bytes | None, value: bytes | None) -> tuple[uuid.UUID, Event]:
    """Kafka record -> (event id, typed event). Raises PoisonMessage with a precise reason."""
    header_map = {k: v for k, v in (headers or ())}
    if "ce_id" not in header_map or "ce_type" not in header_map:
        raise PoisonMessage("missing CloudEvents headers ce_id/ce_type")
    try:
        message = ce_kafka.KafkaMessage(headers=header_map, key=key, value=value or b"")
        event = ce_kafka.from_binary_event(message)
        event_id = uuid.UUID(event.get_id())
    except (ValueError, TypeError, KeyError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PoisonMessage(f"undecodable CloudEvent: {exc}") from exc
    except Exception as exc:  # the SDK raises its own exception types for bad attributes
        raise PoisonMessage(f"invalid CloudEvent: {type(exc).__name__}: {exc}") from exc
    model = EVENT_TYPES.get(event.get_type())
    if model is None:
        raise PoisonMessage(f"unknown event type {event.get_type()!r}")
    data = event.get_data()
    if not isinstance(data, dict):
        raise PoisonMessage("event data is not a JSON object")
    try:
        return event_id, model.model_validate(data)
    except ValidationError as exc:
        raise PoisonMessage(
            f"schema-invalid {model.__name__}: {exc.error_count()} errors: {exc.errors()[0]['loc']}"
        ) from exc
