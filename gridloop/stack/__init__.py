"""The local stack: Kafka, PostgreSQL, Prometheus, Alertmanager and the four services as local processes.

Everything it starts keeps data, logs and pid files under .gridloop/ (or $GRIDLOOP_HOME).
Importing this package does no I/O; each function below brings one thing up or down, idempotently.
"""

from gridloop.stack.alertmanager import start_alertmanager, stop_alertmanager
from gridloop.stack.infra import Infra, ensure_infra
from gridloop.stack.kafka import BOOTSTRAP, java_command, restart_kafka, start_kafka, stop_kafka
from gridloop.stack.kafka_admin import delete_topics, ensure_topics, gridloop_topics
from gridloop.stack.postgres import ADMIN_DSN, ensure_postgres, restart_postgres
from gridloop.stack.procs import StackError
from gridloop.stack.prometheus import start_prometheus, stop_prometheus
from gridloop.stack.services import PORTS, start_service, stop_service

__all__ = [
    "ADMIN_DSN",
    "BOOTSTRAP",
    "PORTS",
    "Infra",
    "StackError",
    "delete_topics",
    "ensure_infra",
    "ensure_postgres",
    "ensure_topics",
    "gridloop_topics",
    "java_command",
    "restart_kafka",
    "restart_postgres",
    "start_alertmanager",
    "start_kafka",
    "start_prometheus",
    "start_service",
    "stop_alertmanager",
    "stop_kafka",
    "stop_prometheus",
    "stop_service",
]
