"""The four services as processes of the chaos namespace, on free ports, started and killed through
gridloop.stack (pid and log files under $GRIDLOOP_HOME)."""

from __future__ import annotations

import asyncio
import signal
import socket
from dataclasses import dataclass, field
from pathlib import Path

from gridloop.admission.admission_list import default_admission_list
from gridloop.admission.classifier import MODEL_ENV, Classifier, default_model_path
from gridloop.admission.examples import train_examples
from gridloop.chaos.namespace import ChaosNamespace
from gridloop.stack import paths
from gridloop.stack.services import PORTS, start_service, stop_service

SERVICES = tuple(PORTS)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def classifier_model() -> Path:
    """The router's persisted model (trained once, ~100 s, then reused), so a killed router restarts fast."""
    path = paths.home() / default_model_path(default_admission_list().version).relative_to(".gridloop")
    if not path.is_file():
        print(f"-> training the classifier once for the chaos runs (saved to {path}) ...", flush=True)
        Classifier.train(train_examples(), default_admission_list()).save(path.with_suffix(".partial"))
        path.with_suffix(".partial").rename(path)
    return path


@dataclass
class ChaosServices:
    ns: ChaosNamespace
    messages_log: Path
    model: Path
    ports: dict[str, int] = field(default_factory=lambda: {name: free_port() for name in SERVICES})

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def env(self, name: str) -> dict[str, str]:
        return {
            **self.ns.env(),
            "GRIDLOOP_ENV": "development",
            MODEL_ENV: str(self.model),
            "GRIDLOOP_NOTIFY_LOG_CHANNEL_PATH": str(self.messages_log),
            "GRIDLOOP_NOTIFY_PUBLIC_BASE_URL": self.url("notify"),
            "GRIDLOOP_NOTIFY_DELIVERY_POLL_SECONDS": "0.1",
        }

    async def start(self, name: str) -> None:
        await asyncio.to_thread(start_service, name, self.env(name), self.ports[name])

    async def kill(self, name: str) -> None:
        await asyncio.to_thread(stop_service, name, signal.SIGKILL, self.ports[name])

    async def stop(self, name: str) -> None:
        await asyncio.to_thread(stop_service, name, signal.SIGTERM, self.ports[name])

    async def start_all(self) -> None:
        await asyncio.gather(*(self.start(name) for name in SERVICES))

    async def stop_all(self) -> None:
        await asyncio.gather(*(self.stop(name) for name in SERVICES), return_exceptions=True)
