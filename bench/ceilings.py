"""What this machine can do at best: a trivial endpoint, raw Kafka produce, PostgreSQL single-row commits."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from bench.http_load import Load
from bench.stats import percentiles
from gridloop.stack import BOOTSTRAP, ensure_topics, java_command

HERE = Path(__file__).resolve().parent
PG_ADMIN = "postgresql://gridloop:gridloop@127.0.0.1:5432/postgres"
PG_BENCH = "postgresql://gridloop:gridloop@127.0.0.1:5432/gridloop_bench"
PERF_TOPIC = "gridloop.bench.producer-perf"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def trivial_endpoint(bodies: Iterator[bytes], *, seconds: float, connections: int) -> dict[str, Any]:
    """Saturate the trivial endpoint with the same bodies and client as intake."""
    port = free_port()
    proc = await asyncio.create_subprocess_exec(sys.executable, str(HERE / "trivial_app.py"), str(port))
    try:
        async with httpx.AsyncClient() as client:
            for _ in range(100):
                try:
                    await client.get(f"http://127.0.0.1:{port}/docs")
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.1)
        load = Load("127.0.0.1", port, "/v1/reports", bodies, connections=connections)
        started = time.perf_counter()
        results = await load.closed_loop(seconds)
        elapsed = time.perf_counter() - started
    finally:
        proc.terminate()
        await proc.wait()
    ok = [r for r in results if r.status == 202]
    return {"per_second": len(ok) / elapsed, **percentiles([r.latency for r in ok])}


def kafka_producer_perf(records: int = 300_000, record_size: int = 800) -> dict[str, Any]:
    """org.apache.kafka.tools.ProducerPerformance from the stack's own jars, acks=all and idempotent like ours."""
    asyncio.run(ensure_topics(BOOTSTRAP, {PERF_TOPIC: 6}))
    argv = java_command(
        "org.apache.kafka.tools.ProducerPerformance",
        "--topic", PERF_TOPIC,
        "--num-records", str(records),
        "--record-size", str(record_size),
        "--throughput", "-1",
        "--producer-props", f"bootstrap.servers={BOOTSTRAP}", "acks=all", "enable.idempotence=true", "linger.ms=2",
    )  # fmt: skip
    out = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=300).stdout
    last = [line for line in out.splitlines() if "records sent" in line][-1]
    rate = float(re.search(r"([\d.]+) records/sec", last).group(1))
    p99 = re.search(r"([\d.]+) ms 99th", last)
    return {
        "per_second": rate,
        "record_size": record_size,
        "p99_ms": float(p99.group(1)) if p99 else None,
        "summary": last.strip(),
    }


async def postgres_inserts(*, seconds: float, connections: int = 10, payload: dict | None = None) -> dict[str, Any]:
    """Single-row INSERT transactions (each a durable commit) from a pool like a service's: rows per second."""
    admin = await asyncpg.connect(PG_ADMIN)
    try:
        if not await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = 'gridloop_bench'"):
            await admin.execute("CREATE DATABASE gridloop_bench")
    finally:
        await admin.close()
    pool = await asyncpg.create_pool(PG_BENCH, min_size=connections, max_size=connections)
    doc = json.dumps(payload or {"description": "x" * 600})
    try:
        await pool.execute("DROP TABLE IF EXISTS bench_rows")
        await pool.execute(
            "CREATE TABLE bench_rows (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "
            "key uuid NOT NULL DEFAULT gen_random_uuid() UNIQUE, body jsonb NOT NULL, at timestamptz DEFAULT now())"
        )
        deadline, latencies = time.perf_counter() + seconds, []

        async def worker() -> None:
            async with pool.acquire() as conn:
                while time.perf_counter() < deadline:
                    started = time.perf_counter()
                    await conn.execute("INSERT INTO bench_rows (body) VALUES ($1::jsonb)", doc)
                    latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(connections)))
        elapsed = time.perf_counter() - started
        await pool.execute("DROP TABLE bench_rows")
    finally:
        await pool.close()
    return {"per_second": len(latencies) / elapsed, "connections": connections, **percentiles(latencies)}
