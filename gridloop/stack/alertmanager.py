"""Alertmanager (Debian's `prometheus-alertmanager`, run by us) on 127.0.0.1:19094, beside Prometheus."""

from __future__ import annotations

import signal
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from gridloop.stack import paths
from gridloop.stack.procs import Managed, StackError, is_up, locked, port_open, start_and_wait, step, stop
from gridloop.stack.prometheus import debian_binary

ALERTMANAGER = Managed(name="alertmanager", port=19094, marker="alertmanager")
URL = f"http://{ALERTMANAGER.address}"


def start_alertmanager() -> str:
    """Start Alertmanager with deploy/alertmanager/alertmanager.yml unless it runs; return its URL."""
    with locked(ALERTMANAGER.name):
        if is_up(ALERTMANAGER):
            return URL
        if port_open(ALERTMANAGER.port):
            raise StackError(f"port {ALERTMANAGER.port} is taken by another process; stop it first")
        storage = paths.home() / "alertmanager"
        storage.mkdir(parents=True, exist_ok=True)
        argv = alertmanager_argv(
            config=paths.deploy_dir() / "alertmanager" / "alertmanager.yml",
            storage=storage,
            address=ALERTMANAGER.address,
        )
        with step(f"starting Alertmanager on {URL}"):
            start_and_wait(
                ALERTMANAGER, argv, ready=lambda: ready(URL), timeout=30, what=f"Alertmanager at {URL}/-/ready"
            )
    return URL


def stop_alertmanager(sig: int = signal.SIGTERM) -> bool:
    with locked(ALERTMANAGER.name):
        return stop(ALERTMANAGER, sig=sig, timeout=20)


def alertmanager_argv(*, config: Path, storage: Path, address: str) -> Sequence[str]:
    """The command line for one Alertmanager: no gossip cluster (one instance; port 9094 stays free)."""
    return [
        binary(),
        f"--config.file={config}",
        f"--storage.path={storage}",  # silences and the notification log survive a restart here
        f"--web.listen-address={address}",
        f"--web.external-url=http://{address}",
        "--cluster.listen-address=",
    ]


def ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/-/ready", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def binary() -> str:
    return debian_binary("prometheus-alertmanager", "prometheus-alertmanager", "alertmanager")  # Debian's, upstream's
