"""`gridloop retention`: delete or erase what GridLoop no longer needs, in small batches.

- inbox rows older than the redelivery horizon (a record older than that is never delivered again: Kafka keeps
  7 days, a restore rewinds minutes; default 14 days);
- audit log entries older than the audit policy (default 365 days);
- residents' name, phone, e-mail and webhook N days after their case closed (default 180): set to null, the
  encrypted values gone (backups age out on their own schedule); the case, its timeline, its decisions and its
  statistics stay. Departments' masked copies (张*, 138****1234) are replaced too.

Replica-safe: a run takes a PostgreSQL advisory lock per database and does nothing if another holds it (every
replica, or a CronJob, may start it). Each batch is its own short transaction of at most `batch_size` rows, so
locks are brief and a hot standby's replay never falls far behind. Published outbox rows of older versions are
deleted by the outbox relay itself (gridloop/delivery/outbox.py)."""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from gridloop.auth.privacy import ERASED_MARK
from gridloop.ops import metrics
from gridloop.ops.migrate import SERVICES, settings_for

LOCK_KEY = "gridloop.retention"
CLOSED = ("resolved", "closed", "not_admitted")  # statuses after which a case needs no contact
# A contact erased: the sealed fields null (ResidentCipher.open passes non-strings through), and when.
_ERASED = f"jsonb_build_object('name', null, 'phone', null, 'email', null, 'webhook_url', null, '{ERASED_MARK}', now())"


class RetentionPolicy(BaseSettings):
    """How long GridLoop keeps what (GRIDLOOP_RETENTION_*)."""

    model_config = SettingsConfigDict(env_prefix="GRIDLOOP_RETENTION_", extra="ignore")

    inbox_days: int = Field(default=14, ge=8)  # at least Kafka's 7-day retention + a day
    audit_days: int = Field(default=365, ge=180)  # the audit policy; logs of access are kept at least 6 months
    personal_data_days: int = Field(default=180, ge=0)
    batch_size: int = Field(default=1000, ge=1, le=50_000)


@dataclass(frozen=True)
class Job:
    """One statement that deletes or erases at most $2 rows due before $1 and returns one row per row changed."""

    name: str
    sql: str
    days: str  # which policy field sets the cutoff


def _erase_contacts(table: str, key: str, due: str, also: str = "") -> str:
    return (
        f"UPDATE {table} SET resident = resident || {_ERASED}{also} WHERE {key} = ANY(ARRAY("
        f"SELECT {key} FROM {table} WHERE resident->>'erased_at' IS NULL AND {due} LIMIT $2)) RETURNING 1"
    )


_CLOSED_SQL = ", ".join(f"'{s}'" for s in CLOSED)
COMMON = [
    Job(
        "inbox",
        "DELETE FROM inbox WHERE ctid = ANY(ARRAY("
        "SELECT ctid FROM inbox WHERE processed_at < $1 LIMIT $2)) RETURNING 1",
        "inbox_days",
    ),
    Job(
        "audit_log",
        "DELETE FROM audit_log WHERE id = ANY(ARRAY("
        "SELECT id FROM audit_log WHERE at < $1 ORDER BY id LIMIT $2)) RETURNING 1",
        "audit_days",
    ),
]
PERSONAL_DATA: dict[str, list[Job]] = {
    "intake": [
        Job(
            "personal_data",
            _erase_contacts("cases", "case_id", f"status IN ({_CLOSED_SQL}) AND updated_at < $1"),
            "personal_data_days",
        )
    ],
    "router": [
        # The router keeps the reported event to route a returned case again; a case closed elsewhere is not
        # returned any more, so its copy goes when no return happened within the period either.
        Job(
            "personal_data",
            "UPDATE cases c SET reported = jsonb_set(reported, '{resident_sealed}', "
            f"reported->'resident_sealed' || {_ERASED}) WHERE case_id = ANY(ARRAY("
            "SELECT case_id FROM cases c2 WHERE c2.received_at < $1 "
            "AND jsonb_typeof(c2.reported->'resident_sealed') = 'object' "
            "AND c2.reported->'resident_sealed'->>'erased_at' IS NULL "
            "AND NOT EXISTS (SELECT 1 FROM case_returns r WHERE r.case_id = c2.case_id AND r.returned_at >= $1) "
            "LIMIT $2)) RETURNING 1",
            "personal_data_days",
        )
    ],
    "departments": [
        Job(
            "personal_data",
            "UPDATE work_items SET resident_name_masked = '', resident_phone_masked = '' WHERE case_id = ANY(ARRAY("
            "SELECT case_id FROM work_items WHERE status = 'resolved' AND resolved_at < $1 "
            "AND (resident_name_masked <> '' OR resident_phone_masked <> '') LIMIT $2)) RETURNING 1",
            "personal_data_days",
        )
    ],
    "notify": [
        # Closed before the cutoff and nothing happened to the case since (a reopened case keeps its contact).
        Job(
            "personal_data",
            _erase_contacts(
                "recipients",
                "case_id",
                f"EXISTS (SELECT 1 FROM case_steps s WHERE s.case_id = recipients.case_id AND s.status IN "
                f"({_CLOSED_SQL}) AND s.at < $1) AND NOT EXISTS (SELECT 1 FROM case_steps s WHERE "
                "s.case_id = recipients.case_id AND s.at >= $1)",
                also=", phone_digest = NULL",
            ),
            "personal_data_days",
        ),
        # The messages' text and template values named the resident.
        Job(
            "personal_data_messages",
            "UPDATE messages SET body = '', context = '{}'::jsonb WHERE id = ANY(ARRAY("
            "SELECT m.id FROM messages m JOIN recipients r USING (case_id) "
            "WHERE r.resident->>'erased_at' IS NOT NULL AND m.created_at < $1 AND m.body <> '' "
            "AND m.state NOT IN ('pending', 'held', 'awaiting_contact') LIMIT $2)) RETURNING 1",
            "personal_data_days",
        ),
    ],
}


@dataclass(frozen=True)
class JobResult:
    service: str
    job: str
    rows: int
    batches: int
    seconds: float


async def run_retention(
    service: str, database_url: str, policy: RetentionPolicy, *, now: datetime | None = None
) -> list[JobResult] | None:
    """Run every job of the service once, to the end; None if another run holds the lock."""
    now = now or datetime.now(UTC)
    conn = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        if not await conn.fetchval("SELECT pg_try_advisory_lock(hashtext($1))", LOCK_KEY):
            return None
        try:
            return [await _run_job(conn, service, job, policy, now) for job in (*COMMON, *PERSONAL_DATA[service])]
        finally:
            await conn.execute("SELECT pg_advisory_unlock(hashtext($1))", LOCK_KEY)
    finally:
        await conn.close()


async def _run_job(
    conn: asyncpg.Connection, service: str, job: Job, policy: RetentionPolicy, now: datetime
) -> JobResult:
    cutoff = now - timedelta(days=getattr(policy, job.days))
    started = time.monotonic()
    rows = batches = 0
    while True:
        batch_started = time.monotonic()
        changed = len(await conn.fetch(job.sql, cutoff, policy.batch_size))  # autocommit: one transaction each
        metrics.RETENTION_SECONDS.labels(service=service, job=job.name).observe(time.monotonic() - batch_started)
        metrics.RETENTION_ROWS.labels(service=service, job=job.name).inc(changed)
        rows += changed
        batches += 1
        if changed < policy.batch_size:
            return JobResult(service, job.name, rows, batches, time.monotonic() - started)


async def run_all(urls: Mapping[str, str], policy: RetentionPolicy) -> list[JobResult]:
    results: list[JobResult] = []
    for service, url in urls.items():
        done = await run_retention(service, url, policy)
        if done is None:
            print(f"{service}: another retention run holds the lock; skipped")
        results += done or []
    return results


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="gridloop retention", description=__doc__.split("\n\n")[0])
    parser.add_argument("services", nargs="*", metavar="SERVICE", help=f"default: all of {', '.join(SERVICES)}")
    args = parser.parse_args(argv)
    unknown = set(args.services) - set(SERVICES)
    if unknown:
        parser.error(f"unknown service(s) {', '.join(sorted(unknown))}")
    policy = RetentionPolicy()
    urls = {s: settings_for(s).database_url for s in args.services or SERVICES}
    for result in asyncio.run(run_all(urls, policy)):
        print(
            f"{result.service:<12} {result.job:<24} {result.rows:>8} rows in {result.batches} batches, "
            f"{result.seconds:.2f}s"
        )
    return 0
