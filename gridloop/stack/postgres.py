"""The Debian PostgreSQL 15 cluster `15 main` on 127.0.0.1:5432, with the `gridloop` login role.

GRIDLOOP_PG_CLUSTER and GRIDLOOP_PG_PORT select another cluster of the same installation (created on first use,
like `pg_createcluster 15 chaos --port 5433`), so the chaos test can restart its own PostgreSQL."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from gridloop.stack.procs import StackError, locked, port_open, step, wait_until

VERSION = "15"
CLUSTER = os.environ.get("GRIDLOOP_PG_CLUSTER", "main")
PORT = int(os.environ.get("GRIDLOOP_PG_PORT", "5432"))
ROLE = PASSWORD = "gridloop"
ADMIN_DSN = f"postgresql://{ROLE}:{PASSWORD}@127.0.0.1:{PORT}/postgres"
_LOCK = "postgresql" if CLUSTER == "main" else f"postgresql-{CLUSTER}"
LOG_FILE = Path(f"/var/log/postgresql/postgresql-{VERSION}-{CLUSTER}.log")

# Idempotent: creates the role, or brings an existing one back to the expected password and rights.
_ENSURE_ROLE = f"""
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{ROLE}') THEN
    CREATE ROLE {ROLE} LOGIN CREATEDB PASSWORD '{PASSWORD}';
  ELSE
    ALTER ROLE {ROLE} LOGIN CREATEDB PASSWORD '{PASSWORD}';
  END IF;
END $$;
"""


def ensure_postgres() -> str:
    """Install, create and start the cluster as needed, ensure the role; return the admin DSN."""
    with locked(_LOCK):
        return _ensure()


def restart_postgres(mode: str = "fast") -> str:
    """Restart the cluster (mode: smart | fast | immediate, as pg_ctl) and wait until it accepts logins."""
    with locked(_LOCK):
        _run(["pg_ctlcluster", "--mode", mode, VERSION, CLUSTER, "restart"])
        return _ensure()


def stop_postgres() -> None:
    with locked(_LOCK):
        if _cluster_status() == "online":
            _run(["pg_ctlcluster", "--mode", "fast", VERSION, CLUSTER, "stop"])


def _ensure() -> str:
    _install_if_missing()
    status = _cluster_status()
    if status is None:
        with step(f"creating PostgreSQL cluster {VERSION}/{CLUSTER}"):
            _run(["pg_createcluster", VERSION, CLUSTER, "--port", str(PORT)])
        status = _cluster_status()
    if status != "online":
        with step(f"starting PostgreSQL {VERSION}/{CLUSTER} on 127.0.0.1:{PORT}"):
            _run(["pg_ctlcluster", VERSION, CLUSTER, "start"])
    wait_until(lambda: port_open(PORT), timeout=30, what=f"PostgreSQL on port {PORT}", log_file=LOG_FILE)
    _psql_as_postgres(_ENSURE_ROLE)
    _check_password_login()
    return ADMIN_DSN


def postgres_up() -> bool:
    return _cluster_status() == "online" and port_open(PORT)


def postgres_pid() -> int | None:
    try:
        pid_file = Path(f"/var/lib/postgresql/{VERSION}/{CLUSTER}/postmaster.pid")
        return int(pid_file.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _install_if_missing() -> None:
    if Path(f"/usr/lib/postgresql/{VERSION}/bin/postgres").is_file() and shutil.which("pg_ctlcluster"):
        return
    if os.geteuid() != 0:
        raise StackError(f"PostgreSQL {VERSION} is not installed; run deploy/local/install-deps.sh as root")
    with step(f"installing postgresql-{VERSION} with apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        install = ["apt-get", "install", "-y", "-q", f"postgresql-{VERSION}"]
        if subprocess.run(install, env=env, check=False).returncode != 0:
            _run(["apt-get", "update", "-q"])  # the package lists may be missing or stale
            _run(install, env=env)


def _cluster_status() -> str | None:
    """'online', 'down' (or another pg_lsclusters word), or None if the cluster does not exist."""
    out = _run(["pg_lsclusters", "--no-header"])
    for line in out.splitlines():
        fields = line.split()
        if fields[:2] == [VERSION, CLUSTER]:
            if fields[2] != str(PORT):
                raise StackError(f"cluster {VERSION}/{CLUSTER} is configured for port {fields[2]}, expected {PORT}")
            return fields[3]
    return None


def _psql_as_postgres(sql: str) -> None:
    _run(
        [
            "runuser",
            "-u",
            "postgres",
            "--",
            "psql",
            "-p",
            str(PORT),
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            sql,
        ]
    )


def _check_password_login() -> None:
    # Over TCP with the password, exactly as the services connect.
    env = {**os.environ, "PGPASSWORD": PASSWORD, "PGCONNECT_TIMEOUT": "5"}
    argv = [
        "psql",
        "-h",
        "127.0.0.1",
        "-p",
        str(PORT),
        "-U",
        ROLE,
        "-d",
        "postgres",
        "-X",
        "-tA",
        "-c",
        "select 1",
    ]
    result = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    if result.returncode != 0:
        raise StackError(
            f"role {ROLE} cannot log in over TCP with its password: {result.stderr.strip()}\n"
            f"check that /etc/postgresql/{VERSION}/{CLUSTER}/pg_hba.conf has the line "
            "'host all all 127.0.0.1/32 scram-sha-256'"
        )


def _run(argv: list[str], env: dict[str, str] | None = None) -> str:
    result = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    if result.returncode != 0:
        raise StackError(f"{' '.join(argv[:3])} ... failed (exit {result.returncode}):\n{result.stdout}{result.stderr}")
    return result.stdout
