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
    pid_of,
    port_open,
    spawn,
    step,
    stop,
    tail,
    wait_until,
)

PROMETHEUS = Managed(name="prometheus", port=19090, marker="prometheus")
URL = f"http://{PROMETHEUS.address}"


def start_prometheus() -> str:
    """Start Prometheus with deploy/prometheus/prometheus.yml unless it runs; return its URL."""
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
        spawn(PROMETHEUS, argv)
        wait_until(_ready, timeout=30, what=f"Prometheus at {URL}/-/ready", log_file=PROMETHEUS.log_file)
    return URL


def stop_prometheus(sig: int = signal.SIGTERM) -> bool:
    return stop(PROMETHEUS, sig=sig, timeout=20)


def _ready() -> bool:
    if pid_of(PROMETHEUS) is None:
        raise StackError(f"Prometheus exited during startup:\n{tail(PROMETHEUS.log_file)}")
    try:
        with urllib.request.urlopen(f"{URL}/-/ready", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def _binary() -> str:
    binary = shutil.which("prometheus")
    if binary:
        return binary
    if os.geteuid() != 0:
        raise StackError("prometheus is not installed; run deploy/local/install-deps.sh as root")
    with step("installing prometheus with apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", "prometheus"]
        if subprocess.run(install, env=env, check=False).returncode != 0:
            subprocess.run(["apt-get", "update", "-q"], check=True)
            subprocess.run(install, env=env, check=True)
    return shutil.which("prometheus") or "/usr/bin/prometheus"
