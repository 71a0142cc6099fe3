"""`gridloop backup` / `gridloop restore`: each service's database as a pg_dump custom-format file.

A backup is a directory with one `<service>.dump` per service and `manifest.json` (when, which database, size,
SHA-256). Restoring creates each database afresh (it refuses to overwrite one that exists unless told to drop
it), restores the dump, and rewinds the service's Kafka consumer groups to the backup's start, so what the
consumers did after the backup is done again; the inboxes drop what the restored databases already hold
(docs/operations.md#backups-and-restores)."""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from pydantic import BaseModel
from sqlalchemy.engine import URL, make_url

from gridloop.ops.migrate import SERVICES, settings_for

MANIFEST = "manifest.json"
# Consumers are rewound to this long before the backup began: a record consumed just before pg_dump took its
# snapshot, but committed by a transaction the snapshot did not see, is read again (the inbox drops it if not).
REWIND_MARGIN = timedelta(minutes=5)
# The consumer groups whose effects live in each service's database (gridloop/contracts/topics.py names them).
CONSUMER_GROUPS: dict[str, tuple[str, ...]] = {
    "intake": ("gridloop.intake.timeline",),
    "router": ("gridloop.router", "gridloop.router.returns"),
    "departments": ("gridloop.departments", "gridloop.departments.status"),
    "notify": ("gridloop.notify",),
}


class BackupError(RuntimeError):
    """A backup or restore step failed; the message says which and why."""


class DumpFile(BaseModel):
    service: str
    database: str
    file: str
    bytes: int
    sha256: str


class Manifest(BaseModel):
    started_at: datetime  # before the first pg_dump began: the restore point is at or after this
    finished_at: datetime
    pg_dump_version: str
    dumps: list[DumpFile]

    def dump(self, service: str) -> DumpFile:
        return next(d for d in self.dumps if d.service == service)


def backup(urls: Mapping[str, str], dest: Path) -> Manifest:
    """pg_dump each service's database (custom format, compressed) into dest; write and return the manifest."""
    dest.mkdir(parents=True, exist_ok=False)
    started = datetime.now(UTC)
    dumps = []
    for service, url in urls.items():
        target = dest / f"{service}.dump"
        _run([_tool("pg_dump"), "--format=custom", "--no-owner", f"--file={target}", *_conn_args(url)], url)
        dumps.append(
            DumpFile(
                service=service,
                database=_database(url),
                file=target.name,
                bytes=target.stat().st_size,
                sha256=_sha256(target),
            )
        )
    version = subprocess.run([_tool("pg_dump"), "--version"], capture_output=True, text=True, check=True).stdout
    manifest = Manifest(started_at=started, finished_at=datetime.now(UTC), pg_dump_version=version.strip(), dumps=dumps)
    (dest / MANIFEST).write_text(manifest.model_dump_json(indent=2))
    return manifest


def read_manifest(source: Path) -> Manifest:
    manifest = Manifest.model_validate_json((source / MANIFEST).read_text())
    for dump in manifest.dumps:
        if _sha256(source / dump.file) != dump.sha256:
            raise BackupError(f"{dump.file}: checksum does not match the manifest; the backup is damaged")
    return manifest


def restore(source: Path, urls: Mapping[str, str], *, drop_existing: bool = False) -> Manifest:
    """Create each database of urls afresh and pg_restore its service's dump from source into it."""
    manifest = read_manifest(source)
    for service, url in urls.items():
        dump = manifest.dump(service)
        asyncio.run(_create_database(url, drop_existing=drop_existing))
        argv = [_tool("pg_restore"), "--no-owner", "--exit-on-error", "--single-transaction", *_conn_args(url)]
        _run([*argv, str(source / dump.file)], url)
    return manifest


async def rewind_consumers(
    bootstrap: str,
    groups: Sequence[str],
    to: datetime,
    *,
    topic_prefix: str = "",
    options: Mapping[str, object] | None = None,
) -> dict[str, int]:
    """Set each group's committed offsets to the first record at or after `to` on every topic it had offsets
    for (the log end where nothing is that new). The groups' consumers must be stopped. Returns, per group,
    how many records it will read again. `options`: KafkaSettings.client_options() (TLS, SASL)."""
    client = dict(options or {"bootstrap_servers": bootstrap})
    admin = AIOKafkaAdminClient(**client)
    await admin.start()
    rewound: dict[str, int] = {}
    try:
        for group in groups:
            committed = await admin.list_consumer_group_offsets(f"{topic_prefix}{group}")
            partitions = [tp for tp in committed if committed[tp].offset >= 0]
            if not partitions:
                rewound[group] = 0
                continue
            consumer = AIOKafkaConsumer(**client, group_id=f"{topic_prefix}{group}", enable_auto_commit=False)
            await consumer.start()
            try:
                consumer.assign(partitions)  # a group with no members takes commits from an assigned consumer
                millis = int(to.timestamp() * 1000)
                found = await consumer.offsets_for_times(dict.fromkeys(partitions, millis))
                ends = await consumer.end_offsets(partitions)
                targets = {tp: (found[tp].offset if found[tp] is not None else ends[tp]) for tp in partitions}
                targets = {tp: min(offset, committed[tp].offset) for tp, offset in targets.items()}
                await consumer.commit(targets)
                rewound[group] = sum(committed[tp].offset - targets[tp] for tp in partitions)
            finally:
                await consumer.stop()
    finally:
        await admin.close()
    return rewound


async def _create_database(url: str, *, drop_existing: bool) -> None:
    parsed = make_url(url)
    conn = await asyncpg.connect(**_asyncpg_args(parsed, database="postgres"))
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", parsed.database)
        if exists and not drop_existing:
            raise BackupError(
                f"database {parsed.database} exists; restore only into a fresh database (or --drop-existing)"
            )
        if exists:
            await conn.execute(f'DROP DATABASE "{parsed.database}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{parsed.database}"')
    finally:
        await conn.close()


def _asyncpg_args(parsed: URL, *, database: str) -> dict[str, object]:
    return {
        "host": parsed.host,
        "port": parsed.port or 5432,
        "user": parsed.username,
        "password": parsed.password,
        "database": database,
    }


def _conn_args(url: str) -> list[str]:
    parsed = make_url(url)
    return [
        f"--host={parsed.host or '127.0.0.1'}",
        f"--port={parsed.port or 5432}",
        f"--username={parsed.username}",
        f"--dbname={parsed.database}",
    ]


def _database(url: str) -> str:
    return str(make_url(url).database)


def _run(argv: list[str], url: str) -> None:
    # The password goes through the environment, never the command line (visible in ps).
    env = {**os.environ, "PGPASSWORD": make_url(url).password or "", "PGCONNECT_TIMEOUT": "10"}
    result = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    if result.returncode != 0:
        raise BackupError(f"{Path(argv[0]).name} failed (exit {result.returncode}): {result.stderr.strip()}")


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(f"{name} not found: install postgresql-client-15 (deploy/local/install-deps.sh)")
    return found


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def backup_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="gridloop backup", description="pg_dump each service's database.")
    parser.add_argument("services", nargs="*", metavar="SERVICE", help=f"default: all of {', '.join(SERVICES)}")
    parser.add_argument("--to", type=Path, help="a new directory (default backups/<UTC time>)")
    args = parser.parse_args(argv)
    services = _services(parser, args.services)
    dest = args.to or Path("backups") / datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    manifest = backup({s: settings_for(s).database_url for s in services}, dest)
    for dump in manifest.dumps:
        print(f"{dump.service:<12} {dump.database:<28} {dump.bytes / 1e6:8.1f} MB  {dest / dump.file}")
    print(f"backup of {len(manifest.dumps)} databases in {dest}, started {manifest.started_at:%Y-%m-%d %H:%M:%S} UTC")
    return 0


def restore_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="gridloop restore", description="Restore a `gridloop backup` into fresh databases (services stopped)."
    )
    parser.add_argument("source", type=Path, help="the backup directory (with manifest.json)")
    parser.add_argument("services", nargs="*", metavar="SERVICE", help=f"default: all of {', '.join(SERVICES)}")
    parser.add_argument("--drop-existing", action="store_true", help="drop a database that exists first")
    parser.add_argument("--no-rewind", action="store_true", help="leave the consumer groups' offsets where they are")
    args = parser.parse_args(argv)
    services = _services(parser, args.services)
    settings = {s: settings_for(s) for s in services}
    try:
        manifest = restore(
            args.source, {s: settings[s].database_url for s in services}, drop_existing=args.drop_existing
        )
    except BackupError as error:
        print(f"gridloop restore: {error}")
        return 1
    print(f"restored {len(services)} databases from the backup started {manifest.started_at:%Y-%m-%d %H:%M:%S} UTC")
    if not args.no_rewind:
        kafka = settings[services[0]].kafka
        groups = [g for s in services for g in CONSUMER_GROUPS[s]]
        to = manifest.started_at - REWIND_MARGIN
        rewound = asyncio.run(rewind_consumers(kafka.bootstrap_servers, groups, to, topic_prefix=kafka.topic_prefix))
        for group, records in rewound.items():
            print(f"rewound {group} to {to:%H:%M:%S} UTC: {records} records to read again")
    print("now run `gridloop migrate` (a backup of an older version) and start the services")
    return 0


def _services(parser: argparse.ArgumentParser, names: list[str]) -> list[str]:
    unknown = set(names) - set(SERVICES)
    if unknown:
        parser.error(f"unknown service(s) {', '.join(sorted(unknown))}; choose from {', '.join(SERVICES)}")
    return list(names or SERVICES)
