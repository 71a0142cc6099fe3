"""The four GridLoop services as background processes: `.venv/bin/gridloop <name>` on 127.0.0.1:800x."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path

from gridloop.stack.kafka import BOOTSTRAP
from gridloop.stack.procs import Managed, StackError, is_up, locked, port_open, start_and_wait, stop

PORTS: dict[str, int] = {"intake": 8001, "router": 8002, "departments": 8003, "notify": 8004}
# The router trains its classifier while starting (about 100 s on a busy 2-core machine).
READY_TIMEOUT = float(os.environ.get("GRIDLOOP_READY_TIMEOUT", "180"))


def service(name: str, port: int | None = None) -> Managed:
    if name not in PORTS:
        raise StackError(f"unknown service {name!r}; expected one of {', '.join(PORTS)}")
    port = port or PORTS[name]
    # A second instance on another port (an e2e test's own) gets its own pid and log file.
    label = name if port == PORTS[name] else f"{name}-{port}"
    return Managed(name=label, port=port, marker=f"gridloop {name}")


def gridloop_command() -> str:
    """The `gridloop` console script next to the running interpreter (the project's venv)."""
    script = Path(sys.executable).parent / "gridloop"
    if not script.is_file():
        raise StackError(f"no gridloop command at {script}; run `make install`")
    return str(script)


def service_env(name: str, port: int, overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment a service starts with: ours, development defaults, its address, then overrides."""
    prefix = f"GRIDLOOP_{name.upper()}"  # each service's settings class reads GRIDLOOP_<NAME>_*
    env = {
        **os.environ,
        "GRIDLOOP_ENV": "development",
        "KAFKA_BOOTSTRAP_SERVERS": BOOTSTRAP,
        f"{prefix}_HOST": "127.0.0.1",
        f"{prefix}_PORT": str(port),
        "PYTHONUNBUFFERED": "1",
    }
    env.update(overrides or {})
    return env


def start_service(
    name: str,
    env_overrides: Mapping[str, str] | None = None,
    port: int | None = None,
    timeout: float = READY_TIMEOUT,
) -> str:
    """Start one service unless it runs, wait for /readyz 200; return its base URL."""
    proc = service(name, port)
    url = f"http://{proc.address}"
    with locked(proc.name):
        if is_up(proc):
            return url
        if port_open(proc.port):
            raise StackError(f"port {proc.port} for {name} is taken by another process")
        start_and_wait(
            proc,
            [gridloop_command(), name],
            env=service_env(name, proc.port, env_overrides),
            ready=lambda: _get_status(f"{url}/readyz") == 200,
            timeout=timeout,
            what=f"{name} at {url}/readyz",
        )
    return url


def stop_service(name: str, sig: int = signal.SIGTERM, port: int | None = None, timeout: float = 20.0) -> bool:
    """Stop a service with sig (SIGKILL to simulate a crash). False if it was not running."""
    proc = service(name, port)
    with locked(proc.name):
        return stop(proc, sig=sig, timeout=timeout)


def service_ready(name: str, port: int | None = None) -> bool:
    return _get_status(f"http://{service(name, port).address}/readyz") == 200


def run_migrations() -> None:
    """`gridloop migrate` as a subprocess; its output is shown, a failure stops `stack up`."""
    argv = [gridloop_command(), "migrate"]
    result = subprocess.run(argv, env={**os.environ, "GRIDLOOP_ENV": "development"}, check=False)
    if result.returncode != 0:
        raise StackError(f"`{' '.join(argv)}` failed with exit code {result.returncode} (output above)")


def _get_status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return None
