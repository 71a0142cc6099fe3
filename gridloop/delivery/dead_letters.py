"""Dead letters read and replayed (`gridloop dlt list | replay`, gridloop/ops/dlt.py): after a fix, their records go
back.

A replayed record is the original record again (same key, value and CloudEvents headers, so the same `ce_id`),
sent to the topic it was dead-lettered from. Every consumer group on that topic sees it again; groups that had
processed it already skip it through their inbox, the group that failed on it now applies it.

Dead letters of topics that carry residents' contacts hold them encrypted (header `gridloop_sealed`, see
gridloop/auth/privacy.py); replay is handed what decrypts them (`ResidentCipher.open_dead_letter`, the services' keys).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from aiokafka import ConsumerRecord

from gridloop.contracts.topics import dead_letter_topic
from gridloop.delivery.consumer import DLT_SEALED_HEADER
from gridloop.delivery.kafka import KafkaSettings, make_producer
from gridloop.delivery.topic_reader import read_to_end

REPLAYED_FROM = "gridloop_replayed_from"


@dataclass(frozen=True)
class DeadLetter:
    dlt_topic: str  # logical
    partition: int
    offset: int
    at: datetime
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]

    def header(self, name: str) -> str:
        value = dict(self.headers).get(name)
        return value.decode(errors="replace") if value is not None else ""

    @property
    def original_topic(self) -> str:
        return self.header("dlt_original_topic") or self.dlt_topic.removesuffix(".dlt")

    @property
    def event_id(self) -> str:
        return self.header("ce_id")

    @property
    def group(self) -> str:
        return self.header("dlt_consumer_group")

    @property
    def reason(self) -> str:
        return self.header("dlt_exception_class")

    @property
    def message(self) -> str:
        return self.header("dlt_exception_message")

    @property
    def origin(self) -> str:
        return f"{self.original_topic}[{self.header('dlt_original_partition')}]@{self.header('dlt_original_offset')}"

    def replay_headers(self) -> list[tuple[str, bytes]]:
        """The original record's headers (CloudEvents ones included), without the dead-letter annotations."""
        dropped = {REPLAYED_FROM, DLT_SEALED_HEADER}
        kept = [(k, v) for k, v in self.headers if not k.startswith("dlt_") and k not in dropped]
        return [*kept, (REPLAYED_FROM, f"{self.dlt_topic}[{self.partition}]@{self.offset}".encode())]


async def read_dead_letters(kafka: KafkaSettings, topics: Iterable[str]) -> list[DeadLetter]:
    """Every record now on the dead-letter topics of `topics` (logical names), oldest first."""
    records = await read_to_end(
        kafka.bootstrap_servers,
        [kafka.topic(dead_letter_topic(t)) for t in topics],
        options=kafka.client_options(),
    )
    letters = [_letter(kafka, r) for r in records]
    return sorted(letters, key=lambda letter: (letter.at, letter.dlt_topic, letter.partition, letter.offset))


def _letter(kafka: KafkaSettings, record: ConsumerRecord) -> DeadLetter:
    return DeadLetter(
        dlt_topic=kafka.logical(record.topic),
        partition=record.partition,
        offset=record.offset,
        at=datetime.fromtimestamp(record.timestamp / 1000, UTC),
        key=record.key,
        value=record.value,
        headers=tuple(record.headers or ()),
    )


# (value, headers) of a dead letter -> the original value: a sealed resident contact opened again.
DeadLetterOpener = Callable[[bytes | None, list[tuple[str, bytes]]], bytes | None]


async def replay(kafka: KafkaSettings, letters: Iterable[DeadLetter], *, open_value: DeadLetterOpener) -> int:
    """Send each dead letter back to its original topic, keeping its key and `ce_id`; returns how many."""
    producer = make_producer(kafka, "gridloop-dlt-replay")
    await producer.start()
    count = 0
    try:
        for letter in letters:
            await producer.send_and_wait(
                kafka.topic(letter.original_topic),
                value=open_value(letter.value, list(letter.headers)),
                key=letter.key,
                headers=letter.replay_headers(),
            )
            count += 1
    finally:
        await producer.stop()
    return count


def select(
    letters: Iterable[DeadLetter],
    *,
    since: datetime | None = None,
    event_ids: Iterable[str] = (),
    group: str | None = None,
) -> list[DeadLetter]:
    wanted = set(event_ids)
    return [
        letter
        for letter in letters
        if (since is None or letter.at >= since)
        and (not wanted or letter.event_id in wanted)
        and (group is None or letter.group == group)
    ]


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """An ISO-8601 time (UTC if naive) or a look-back such as 30m, 2h, 1d."""
    match = re.fullmatch(r"(\d+)([smhd])", text.strip())
    if match:
        unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[match.group(2)]
        return (now or datetime.now(UTC)) - timedelta(**{unit: int(match.group(1))})
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def format_table(letters: list[DeadLetter]) -> str:
    header = ("dead-lettered at (UTC)", "dlt record", "original", "group", "event id", "reason")
    rows = [
        (
            letter.at.strftime("%Y-%m-%d %H:%M:%S"),
            f"{letter.dlt_topic}[{letter.partition}]@{letter.offset}",
            letter.origin,
            letter.group or "-",
            letter.event_id or "-",
            f"{letter.reason}: {letter.message}"[:100],
        )
        for letter in letters
    ]
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header) - 1)]
    lines = ["  ".join(f"{c:<{w}}" for c, w in zip(row[:-1], widths, strict=True)) + "  " + row[-1] for row in rows]
    title = "  ".join(f"{c:<{w}}" for c, w in zip(header[:-1], widths, strict=True)) + "  " + header[-1]
    return "\n".join([title, *lines])
