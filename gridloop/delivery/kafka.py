"""Kafka settings, producer factory and the CloudEvents binary binding used on every topic."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from aiokafka import AIOKafkaProducer
from aiokafka.errors import InvalidProducerEpoch, OutOfOrderSequenceNumber, ProducerFenced, UnknownProducerId
from aiokafka.helpers import create_ssl_context
from cloudevents.core.bindings import kafka as ce_kafka
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent
from pydantic import SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from gridloop.contracts.events import EVENT_TYPES, Event


class KafkaSettings(BaseSettings):
    """Kafka connection settings (env prefix KAFKA_)."""

    model_config = SettingsConfigDict(env_prefix="KAFKA_", extra="ignore")

    bootstrap_servers: str = "127.0.0.1:19092"
    topic_prefix: str = ""  # tests run in their own namespace, e.g. "t1a2b."
    # No linger: the relay hands the producer a whole wave at once and waits for its acknowledgement, so batching
    # comes from the wave, and waiting 2 ms for more records only delayed every wave (an acknowledged send on an
    # idle broker took 3.1 ms with linger 2 ms, 0.5 ms with 0; docs/benchmarks.md).
    linger_ms: int = 0
    max_retries: int = 3  # handler attempts before a message is dead-lettered
    retry_backoff_ms: int = 200
    poll_max_records: int = 200
    # Consumers commit offsets at most this often (and on a graceful stop or a rebalance); after a crash up to this
    # much is redelivered, and the inbox drops it.
    commit_interval_ms: int = 1000
    request_timeout_ms: int = 10_000
    # A production cluster: TLS to the brokers and SASL/SCRAM (docs/delivery.md#kafka-security). PLAINTEXT locally.
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256"] = "SCRAM-SHA-512"
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: Path | None = None  # the brokers' CA (PEM); None: the system's trusted CAs
    ssl_certfile: Path | None = None  # a client certificate, for brokers that require one (mTLS)
    ssl_keyfile: Path | None = None
    ssl_key_password: SecretStr | None = None
    ssl_check_hostname: bool = True

    @model_validator(mode="after")
    def _security_is_complete(self) -> KafkaSettings:
        if self.security_protocol.startswith("SASL_") and not (self.sasl_username and self.sasl_password):
            raise ValueError(f"security_protocol {self.security_protocol} needs sasl_username and sasl_password")
        for name in ("ssl_cafile", "ssl_certfile", "ssl_keyfile"):
            path = getattr(self, name)
            if path is not None and not path.is_file():
                raise ValueError(f"{name} {path} is not a readable file")
        if (self.ssl_certfile is None) != (self.ssl_keyfile is None):
            raise ValueError("ssl_certfile and ssl_keyfile go together")
        return self

    def client_options(self) -> dict[str, Any]:
        """The connection arguments every aiokafka client of this service takes (producer, consumer, admin)."""
        options: dict[str, Any] = {"bootstrap_servers": self.bootstrap_servers}
        if self.security_protocol == "PLAINTEXT":
            return options
        options["security_protocol"] = self.security_protocol
        if self.security_protocol in ("SSL", "SASL_SSL"):
            context = create_ssl_context(
                cafile=str(self.ssl_cafile) if self.ssl_cafile else None,
                certfile=str(self.ssl_certfile) if self.ssl_certfile else None,
                keyfile=str(self.ssl_keyfile) if self.ssl_keyfile else None,
                password=self.ssl_key_password.get_secret_value() if self.ssl_key_password else None,
            )
            context.check_hostname = self.ssl_check_hostname
            options["ssl_context"] = context
        if self.security_protocol.startswith("SASL_"):
            assert self.sasl_password is not None  # the validator saw to it
            options["sasl_mechanism"] = self.sasl_mechanism
            options["sasl_plain_username"] = self.sasl_username
            options["sasl_plain_password"] = self.sasl_password.get_secret_value()
        return options

    def topic(self, logical: str) -> str:
        return f"{self.topic_prefix}{logical}"

    def logical(self, physical: str) -> str:
        return physical.removeprefix(self.topic_prefix)


def make_producer(settings: KafkaSettings, client_id: str) -> AIOKafkaProducer:
    """An idempotent producer that waits for all in-sync replicas."""
    return AIOKafkaProducer(
        **settings.client_options(),
        client_id=client_id,
        acks="all",
        enable_idempotence=True,
        linger_ms=settings.linger_ms,
        request_timeout_ms=settings.request_timeout_ms,
    )


# Errors after which an idempotent producer cannot go on (its sender task has died, or the broker no longer knows
# its producer id and sequence, e.g. after a broker restart that lost the producer state): every later send fails
# the same way, so the producer must be replaced by a new one (a new producer id).
PRODUCER_FATAL: tuple[type[BaseException], ...] = (
    OutOfOrderSequenceNumber,
    UnknownProducerId,
    InvalidProducerEpoch,
    ProducerFenced,
)


def producer_is_broken(exc: BaseException) -> bool:
    """True if this error, or one it was raised from, means the producer must be replaced."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, PRODUCER_FATAL):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


class ProducerSlot:
    """The service's producer, awaitable like a future (`producer = await slot`), and replaceable: `await slot`
    waits while a broken producer is being replaced and then gives the new one."""

    def __init__(self) -> None:
        self._future: asyncio.Future[AIOKafkaProducer] = asyncio.get_running_loop().create_future()

    def __await__(self) -> Generator[Any, None, AIOKafkaProducer]:
        return asyncio.shield(self._future).__await__()

    @property
    def current(self) -> AIOKafkaProducer | None:
        return self._future.result() if self._future.done() else None

    def set(self, producer: AIOKafkaProducer) -> None:
        self.clear()
        self._future.set_result(producer)

    def clear(self) -> None:
        """From now until `set`, awaiting the slot waits for the next producer."""
        if self._future.done():
            self._future = asyncio.get_running_loop().create_future()


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


class _RawData(JSONFormat):
    """The CloudEvents SDK reads the attributes from the headers; the data stays bytes, for pydantic to parse and
    validate in one pass (`model_validate_json`) instead of `json.loads` and then validating the dict."""

    def read_data(self, body: bytes, datacontenttype: str | None) -> bytes:
        return body


_RAW_DATA = _RawData()


def decode(
    headers: Sequence[tuple[str, bytes]], key: bytes | None, value: bytes | None
) -> tuple[uuid.UUID, Event]:
    """Kafka record -> (event id, typed event). Raises PoisonMessage with a precise reason."""
    header_map = {k: v for k, v in (headers or ())}
    if "ce_id" not in header_map or "ce_type" not in header_map:
        raise PoisonMessage("missing CloudEvents headers ce_id/ce_type")
    try:
        message = ce_kafka.KafkaMessage(headers=header_map, key=key, value=value or b"")
        event = ce_kafka.from_binary(message, _RAW_DATA)
        event_id = uuid.UUID(event.get_id())
    except (ValueError, TypeError, KeyError, UnicodeDecodeError) as exc:
        raise PoisonMessage(f"undecodable CloudEvent: {exc}") from exc
    except Exception as exc:  # the SDK raises its own exception types for bad attributes
        raise PoisonMessage(f"invalid CloudEvent: {type(exc).__name__}: {exc}") from exc
    model = EVENT_TYPES.get(event.get_type())
    if model is None:
        raise PoisonMessage(f"unknown event type {event.get_type()!r}")
    data = event.get_data()
    if not isinstance(data, bytes) or data.lstrip()[:1] != b"{":  # _RawData leaves it bytes
        raise PoisonMessage("event data is not a JSON object")
    try:
        return event_id, model.model_validate_json(data)
    except ValidationError as exc:
        if exc.errors()[0]["type"] == "json_invalid":
            raise PoisonMessage(f"undecodable CloudEvent data: {exc.errors()[0]['msg']}") from exc
        raise PoisonMessage(
            f"schema-invalid {model.__name__}: {exc.error_count()} errors: {exc.errors()[0]['loc']}"
        ) from exc
