"""The `gridloop` console command: one entry point, each subcommand lives in its own module."""

from __future__ import annotations

import importlib
import sys

# subcommand -> (module:function, one-line help). Functions take argv (list[str]) and return an exit code.
COMMANDS: dict[str, tuple[str, str]] = {
    "intake": ("services.intake.main:run", "run the intake service"),
    "router": ("services.router.main:run", "run the router service"),
    "departments": ("services.departments.main:run", "run the departments service"),
    "notify": ("services.notify.main:run", "run the notify service"),
    "migrate": ("gridloop.ops.migrate:main", "create databases and run alembic migrations"),
    "dlt": ("gridloop.ops.dlt:main", "dead letters: list | replay (back to the original topic)"),
    "chaos": ("gridloop.chaos.run:main", "crash services, broker and database under load; check nothing is lost"),
    "stack": ("gridloop.stack.cli:main", "local stack: up | down | status (Kafka, PostgreSQL, Prometheus, services)"),
    "alerts": ("gridloop.ops.alert_inbox:main", "alerts: listen (print what Alertmanager's webhook sends)"),
    "backup": ("gridloop.ops.backup:backup_main", "pg_dump each service's database (custom format)"),
    "restore": ("gridloop.ops.backup:restore_main", "restore a backup into fresh databases, rewind consumers"),
    "retention": ("gridloop.ops.retention:main", "delete old inbox/audit rows, erase closed cases' contacts"),
    "classify": ("gridloop.admission.cli:classify_main", "classify JSON Lines reports from stdin"),
    "evaluate": ("gridloop.admission.cli:evaluate_main", "evaluate the classifier on the held-out split"),
    "retrain": ("gridloop.admission.cli:retrain_main", "retrain the classifier with operator corrections"),
    "demo": ("gridloop.demo.run:main", "bring the stack up and replay a day of grid reports"),
    "token": ("gridloop.ops.token:main", "credentials: issue (worker, department, operator) | revoke"),
    "registry": ("services.intake.registry_cli:main", "the grid registry: import a district's files | export"),
    "report": ("services.departments.report_cli:main", "reports: weekly --week 2026-W49 (三率考核周报 to reports/)"),
}


def _usage() -> str:
    lines = ["usage: gridloop <command> [options]", "", "commands:"]
    lines += [f"  {name:<12} {help_}" for name, (_, help_) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in {"-h", "--help", "help"}:
        print(_usage())
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"gridloop: unknown command {name!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module_name, func_name = COMMANDS[name][0].split(":")
    func = getattr(importlib.import_module(module_name), func_name)
    return int(func(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
