"""Prometheus (Debian's binary, run by us rather than by systemd) on 127.0.0.1:19090."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import urllib.request

from gridloop.stack import paths
from gridloop.stack.procs import (
    Managed,
    StackError,
    is_up,
    locked,
    port_open,
    start_and_wait,
    step,
    stop,
)

PROMETHEUS = Managed(name="prometheus", port=19090, marker="prometheus")
URL = f"http://{PROMETHEUS.address}"


def start_prometheus() -> str:
    """Start Prometheus with deploy/prometheus/prometheus.yml unless it runs; return its URL."""
    with locked(PROMETHEUS.name):
        return _start()


def stop_prometheus(sig: int = signal.SIGTERM) -> bool:
    with locked(PROMETHEUS.name):
        return stop(PROMETHEUS, sig=sig, timeout=20)


def _start() -> str:
    if is_up(PROMETHEUS):
        return URL
    if port_open(PROMETHEUS.port):
        raise StackError(f"port {PROMETHEUS.port} is taken by another process; stop it first")
    binary = _binary()
    storage = paths.home() / "prometheus"
    storage.mkdir(parents=True, exist_ok=True)
    argv = [
        binary,
        f"--config.file={paths.deploy_dir() / 'prometheus' / 'prometheus.yml'}",
        f"--storage.tsdb.path={storage}",
        "--storage.tsdb.retention.time=2d",
        f"--web.listen-address={PROMETHEUS.address}",
        "--web.enable-lifecycle",  # POST /-/reload picks up edited rules without a restart
    ]
    with step(f"starting Prometheus on {URL}"):
        start_and_wait(PROMETHEUS, argv, ready=_ready, timeout=30, what=f"Prometheus at {URL}/-/ready")
    return URL


def _ready() -> bool:
    try:
        with urllib.request.urlopen(f"{URL}/-/ready", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def _binary() -> str:
    return debian_binary("prometheus", "prometheus")


def debian_binary(package: str, *names: str) -> str:
    """The first of `names` on PATH, else Debian's `package` installed with apt-get (as root) and its first name."""
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    if os.geteuid() != 0:
        raise StackError(f"{package} is not installed; run deploy/local/install-deps.sh as root")
    with step(f"installing {package} with apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", package]
        if subprocess.run(install, env=env, check=False).returncode != 0:
            subprocess.run(["apt-get", "update", "-q"], check=True)
            subprocess.run(install, env=env, check=True)
    return shutil.which(names[0]) or f"/usr/bin/{names[0]}"
