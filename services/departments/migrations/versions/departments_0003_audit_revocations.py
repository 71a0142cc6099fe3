"""audit log, revoked tokens

Revision ID: departments_0003
Revises: departments_0002
Create Date: 2026-11-27 09:00:00

"""
from collections.abc import Sequence

from alembic import op

from gridloop.auth.tables import create_auth_tables, drop_auth_tables

revision: str = 'departments_0003'
down_revision: str | Sequence[str] | None = 'departments_0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_auth_tables(op)


def downgrade() -> None:
    drop_auth_tables(op)
