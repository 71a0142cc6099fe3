"""Background processes with pid files, log files and bounded waits: the plumbing under every component."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Coroutine, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from gridloop.stack import paths

T = TypeVar("T")


class StackError(RuntimeError):
    """A component could not be brought up or down; the message says which and why."""


@dataclass(frozen=True)
class Managed:
    """A process the stack starts and stops: found again later through its pid file."""

    name: str
    port: int
    marker: str  # a string its command line contains, so a recycled pid is never mistaken for it

    @property
    def pid_file(self) -> Path:
        return paths.run_dir() / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return paths.logs_dir() / f"{self.name}.log"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"


def spawn(proc: Managed, argv: Sequence[str], *, env: Mapping[str, str] | None = None) -> int:
    """Start argv detached (own session, so it outlives this command), output appended to its log."""
    with proc.log_file.open("ab") as log:
        log.write(f"\n==== {time.strftime('%Y-%m-%d %H:%M:%S')} starting: {' '.join(argv)}\n".encode())
        log.flush()
        child = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            cwd=paths.repo_root(),
            start_new_session=True,
        )
    proc.pid_file.write_text(f"{child.pid}\n")
    return child.pid


@contextlib.contextmanager
def locked(name: str) -> Iterator[None]:
    """Hold an exclusive lock on one component, so concurrent `up`s and test sessions take turns."""
    with (paths.run_dir() / f"{name}.lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def start_and_wait(
    proc: Managed,
    argv: Sequence[str],
    *,
    ready: Callable[[], bool],
    timeout: float,
    what: str,
    env: Mapping[str, str] | None = None,
) -> None:
    """Spawn, then poll ready() until true; if it never gets there (or exits), stop it and raise."""
    spawn(proc, argv, env=env)

    def check() -> bool:
        if pid_of(proc) is None:
            raise StackError(f"{proc.name} exited during startup:\n{tail(proc.log_file)}")
        return ready()

    try:
        wait_until(check, timeout=timeout, what=what, interval=0.5, log_file=proc.log_file)
    except StackError:
        stop(proc, timeout=10)  # a half-started process would only confuse the next `up`
        raise


def pid_of(proc: Managed) -> int | None:
    """The live pid from the pid file, or None (a stale pid file is removed)."""
    try:
        pid = int(proc.pid_file.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    # Right after exec the kernel may briefly show an empty command line: give it the benefit of the doubt.
    command = _cmdline(pid)
    if _alive(pid) and (proc.marker in command or not command):
        return pid
    proc.pid_file.unlink(missing_ok=True)
    return None


def is_up(proc: Managed) -> bool:
    return pid_of(proc) is not None and port_open(proc.port)


def stop(proc: Managed, *, sig: int = signal.SIGTERM, timeout: float = 30.0) -> bool:
    """Send sig, wait up to timeout for exit, then SIGKILL. Returns False if it was not running."""
    pid = pid_of(proc)
    if pid is None:
        return False
    _signal_group(pid, sig)
    deadline = time.monotonic() + timeout
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _alive(pid):
        print(f"  {proc.name} did not exit within {timeout:.0f}s of {signal.Signals(sig).name}; sending SIGKILL")
        _signal_group(pid, signal.SIGKILL)
        wait_until(lambda: not _alive(pid), timeout=10, what=f"{proc.name} to die after SIGKILL")
    # A killed JVM's leader thread turns zombie before its other threads have closed the sockets.
    wait_until(lambda: not port_open(proc.port), timeout=15, what=f"{proc.name} to release port {proc.port}")
    proc.pid_file.unlink(missing_ok=True)
    return True


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
        return True
    return False


def wait_until(
    check: Callable[[], bool],
    *,
    timeout: float,
    what: str,
    interval: float = 0.25,
    log_file: Path | None = None,
) -> None:
    """Poll check() until it is true; on timeout raise StackError naming what, with the log's tail."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            detail = f"\n--- last lines of {log_file} ---\n{tail(log_file)}" if log_file else ""
            raise StackError(f"timed out after {timeout:.0f}s waiting for {what}{detail}")
        time.sleep(interval)


def tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return f"(no log file at {path})"


@contextlib.contextmanager
def step(title: str, *, tick: float = 15.0) -> Iterator[None]:
    """Print a step, a heartbeat every `tick` seconds while it runs, and how long it took."""
    print(f"-> {title} ...", flush=True)
    started = time.monotonic()
    finished = threading.Event()

    def heartbeat() -> None:
        while not finished.wait(tick):
            print(f"   ... {title}: {time.monotonic() - started:.0f}s so far", flush=True)

    threading.Thread(target=heartbeat, daemon=True).start()
    try:
        yield
    finally:
        finished.set()
    print(f"   {title}: done in {time.monotonic() - started:.1f}s", flush=True)


def run_coroutine(coro: Coroutine[Any, Any, T]) -> T:
    """Run coro to completion from sync code, even when the caller itself runs inside an event loop."""
    with ThreadPoolExecutor(max_workers=1) as pool:  # a private thread gets its own loop
        return pool.submit(asyncio.run, coro).result()


def _alive(pid: int) -> bool:
    # Reap our own exited children first, so a zombie does not look alive.
    with contextlib.suppress(ChildProcessError):
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return _state(pid) not in {"Z", "X"}


def _state(pid: int) -> str:
    try:
        # The state follows the parenthesised command name, which may itself contain spaces.
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return "X"


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _signal_group(pid: int, sig: int) -> None:
    # Each component runs in its own session, so signalling the group also reaches its children.
    with contextlib.suppress(ProcessLookupError):
        if os.getpgid(pid) == pid:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
