"""The tables every service carries for access control: its audit log and the revoked credentials."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, UUID


@dataclass(frozen=True)
class AuthTables:
    audit_log: sa.Table
    revoked_tokens: sa.Table


def add_auth_tables(metadata: sa.MetaData) -> AuthTables:
    """Add `audit_log` (who did what, when) and `revoked_tokens` to a service's metadata."""
    audit_log = sa.Table(
        "audit_log",
        metadata,
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("actor", sa.Text, nullable=False),  # role:subject, e.g. operator:王芳, worker:JN-W0001
        sa.Column("role", sa.Text, nullable=False),
        sa.Column("action", sa.Text, nullable=False),  # "POST /v1/work-items/{case_id}/sign", read_resident_contact
        sa.Column("case_id", UUID(as_uuid=True)),
        sa.Column("target", sa.Text),  # what else the action names (a grid, a worker, a token id)
        sa.Column("status", sa.Integer),  # the HTTP answer, for changes made over HTTP
        sa.Column("detail", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Index("ix_audit_log_case_id", "case_id"),
        sa.Index("ix_audit_log_at", "at"),
    )
    revoked_tokens = sa.Table(
        "revoked_tokens",
        metadata,
        sa.Column("token_id", sa.Text, primary_key=True),  # the credential's jti
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("revoked_by", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False, server_default=""),
    )
    return AuthTables(audit_log, revoked_tokens)


# Same shape in every service's database: the shared helpers query through these.
SHARED = add_auth_tables(sa.MetaData())
audit_log = SHARED.audit_log
revoked_tokens = SHARED.revoked_tokens


class MigrationOps(Protocol):
    """What the helpers use of alembic's `op` (a migration passes the module itself)."""

    def get_bind(self) -> sa.Connection: ...

    def drop_table(self, table_name: str) -> None: ...


def create_auth_tables(op: MigrationOps) -> None:
    """For a service's alembic migration: create both tables."""
    bind = op.get_bind()
    for table in (audit_log, revoked_tokens):
        table.create(bind)


def drop_auth_tables(op: MigrationOps) -> None:
    op.drop_table("revoked_tokens")
    op.drop_table("audit_log")
