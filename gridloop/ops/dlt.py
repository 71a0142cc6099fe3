"""`gridloop dlt list | replay`: read the dead-letter topics and, after a fix, put their records back.

A replayed record is the original record again (same key, value and CloudEvents headers, so the same `ce_id`),
sent to the topic it was dead-lettered from. Every consumer group on that topic sees it again; groups that had
processed it already skip it through their inbox, the group that failed on it now applies it.

Dead letters of topics that carry residents' contacts hold them encrypted (header `gridloop_sealed`, see
gridloop/auth/privacy.py); replay decrypts them with GRIDLOOP_AUTH_RESIDENT_KEYS, so it needs the services' keys.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from aiokafka.errors import KafkaError

from gridloop.auth.privacy import ResidentCipher
from gridloop.auth.settings import AuthSettings
from gridloop.contracts.topics import ALL_TOPICS, dead_letter_topic
from gridloop.delivery.dead_letters import format_table, parse_since, read_dead_letters, replay, select
from gridloop.delivery.kafka import KafkaSettings


def _topic(text: str) -> str:
    return text.removesuffix(".dlt")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="gridloop dlt", description=__doc__)
    parser.add_argument("--bootstrap", help="Kafka bootstrap servers (default: $KAFKA_BOOTSTRAP_SERVERS)")
    parser.add_argument("--prefix", help="topic namespace prefix (default: $KAFKA_TOPIC_PREFIX)")
    commands = parser.add_subparsers(dest="command", required=True)
    listing = commands.add_parser("list", help="show dead letters as a table")
    listing.add_argument("--topic", type=_topic, help="original topic (default: every GridLoop topic)")
    listing.add_argument("--group", help="only letters dead-lettered by this consumer group")
    again = commands.add_parser("replay", help="send dead letters back to their original topic")
    again.add_argument("--topic", type=_topic, required=True, help="original topic, e.g. gridloop.cases.status")
    again.add_argument("--since", type=parse_since, help="only letters since: ISO time or 30m / 2h / 1d")
    again.add_argument("--id", dest="ids", action="append", default=[], help="only this event id (repeatable)")
    again.add_argument("--group", help="only letters dead-lettered by this consumer group")
    again.add_argument("--dry-run", action="store_true", help="list what would be replayed")
    args = parser.parse_args(argv)

    overrides = {k: v for k, v in {"bootstrap_servers": args.bootstrap, "topic_prefix": args.prefix}.items() if v}
    kafka = KafkaSettings(**overrides)
    topics = [args.topic] if args.topic else list(ALL_TOPICS)
    try:
        letters = asyncio.run(read_dead_letters(kafka, topics))
    except KafkaError as exc:
        print(f"gridloop dlt: cannot read from Kafka at {kafka.bootstrap_servers}: {exc}", file=sys.stderr)
        return 1
    if args.command == "list":
        letters = select(letters, group=args.group)
        print(format_table(letters) if letters else "no dead letters")
        print(f"\n{len(letters)} dead letter(s) on {', '.join(dead_letter_topic(t) for t in topics)}")
        return 0
    chosen = select(letters, since=args.since, event_ids=args.ids, group=args.group)
    if chosen:
        print(format_table(chosen))
    if args.dry_run or not chosen:
        print(f"\n{len(chosen)} dead letter(s) would be replayed" if chosen else "nothing to replay")
        return 0
    opener = ResidentCipher.from_settings(AuthSettings()).open_dead_letter
    sent = asyncio.run(replay(kafka, chosen, open_value=opener))
    print(f"\nreplayed {sent} dead letter(s) to {kafka.topic(args.topic)}; consumers skip what they had processed")
    return 0
