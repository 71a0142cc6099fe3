"""A webhook receiver for Alertmanager: `gridloop alerts listen` prints each alert that reaches it.

Locally this is the "person" the alerts reach; in a district the webhook goes to the on-call pager instead.
The tests use the same receiver to see what Alertmanager sent."""

from __future__ import annotations

import argparse
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from pydantic import BaseModel, ValidationError

DEFAULT_PORT = 19095


class Alert(BaseModel):
    """One alert in an Alertmanager webhook notification (payload version 4)."""

    status: str  # firing | resolved
    labels: dict[str, str]
    annotations: dict[str, str] = {}
    startsAt: datetime
    endsAt: datetime


class Notification(BaseModel):
    """What Alertmanager POSTs to a webhook receiver: one group of alerts."""

    receiver: str
    status: str
    alerts: list[Alert]
    groupLabels: dict[str, str]
    commonLabels: dict[str, str]


class AlertInbox:
    """Collects notifications in memory (thread-safe) and hands each to on_notification."""

    def __init__(self, on_notification: Callable[[Notification], None] | None = None) -> None:
        self._lock = threading.Lock()
        self._notifications: list[Notification] = []
        self._on_notification = on_notification

    def add(self, notification: Notification) -> None:
        with self._lock:
            self._notifications.append(notification)
        if self._on_notification is not None:
            self._on_notification(notification)

    @property
    def notifications(self) -> list[Notification]:
        with self._lock:
            return list(self._notifications)

    def alerts(self, alertname: str, status: str) -> list[Alert]:
        """Every alert of that name and status received so far, in arrival order."""
        return [
            alert
            for notification in self.notifications
            for alert in notification.alerts
            if alert.labels.get("alertname") == alertname and alert.status == status
        ]


def _handler(inbox: AlertInbox) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            try:
                notification = Notification.model_validate_json(body)
            except ValidationError as error:
                self.send_error(422, f"not an Alertmanager notification: {error.error_count()} errors")
                return
            inbox.add(notification)
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass  # one line per alert is printed by the inbox's callback instead

    return Handler


@contextmanager
def serving(inbox: AlertInbox, *, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Receive webhooks into inbox on a background thread while the block runs; yields the webhook URL."""
    server = ThreadingHTTPServer((host, port), _handler(inbox))
    thread = threading.Thread(target=server.serve_forever, name="alert-inbox", daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{server.server_address[1]}/alerts"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def describe(notification: Notification) -> list[str]:
    """One line per alert: when, status, severity, name, summary."""
    return [
        f"{alert.startsAt:%Y-%m-%d %H:%M:%S} {alert.status.upper():<8} {alert.labels.get('severity', '-'):<8} "
        f"{alert.labels.get('alertname', '?')}: {alert.annotations.get('summary', '')}"
        for alert in notification.alerts
    ]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="gridloop alerts", description="Alerts from the local Alertmanager.")
    commands = parser.add_subparsers(dest="command", required=True)
    listen = commands.add_parser("listen", help="receive Alertmanager's webhook and print each alert")
    listen.add_argument("--port", type=int, default=DEFAULT_PORT)
    listen.add_argument("--log", type=Path, help="also append each notification (JSON) to this file")
    args = parser.parse_args(argv)

    def show(notification: Notification) -> None:
        for line in describe(notification):
            print(line, flush=True)
        if args.log is not None:
            with args.log.open("a", encoding="utf-8") as log:
                log.write(notification.model_dump_json() + "\n")

    print(f"listening for Alertmanager on http://127.0.0.1:{args.port}/alerts (Ctrl-C to stop)", flush=True)
    stopped = threading.Event()
    with serving(AlertInbox(show), port=args.port):
        try:
            stopped.wait()
        except KeyboardInterrupt:
            pass
    return 0
