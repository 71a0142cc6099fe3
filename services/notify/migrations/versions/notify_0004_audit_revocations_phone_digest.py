"""audit log, revoked tokens, residents' phone digest

Revision ID: notify_0004
Revises: notify_0003
Create Date: 2026-11-27 09:00:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from gridloop.auth.tables import create_auth_tables, drop_auth_tables

revision: str = 'notify_0004'
down_revision: str | Sequence[str] | None = 'notify_0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('recipients', sa.Column('phone_digest', sa.Text(), nullable=True))
    op.create_index(op.f('ix_recipients_phone_digest'), 'recipients', ['phone_digest'], unique=False)
    create_auth_tables(op)


def downgrade() -> None:
    drop_auth_tables(op)
    op.drop_index(op.f('ix_recipients_phone_digest'), table_name='recipients')
    op.drop_column('recipients', 'phone_digest')
