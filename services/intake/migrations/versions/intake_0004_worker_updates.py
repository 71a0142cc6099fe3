"""what each grid worker is told about the cases they reported

Revision ID: intake_0004
Revises: intake_0003
Create Date: 2026-12-08 01:10:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = 'intake_0004'
down_revision: str | Sequence[str] | None = 'intake_0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'worker_updates',
        sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column('event_id', sa.UUID(), nullable=False),
        sa.Column('worker_id', sa.Text(), nullable=False),
        sa.Column('case_id', sa.UUID(), nullable=False),
        sa.Column('status', sa.Text(), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('detail', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column('action_needed', sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('event_id'),
    )
    op.create_index(op.f('ix_worker_updates_case_id'), 'worker_updates', ['case_id'], unique=False)
    op.create_index('ix_worker_updates_worker_id', 'worker_updates', ['worker_id', 'id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_worker_updates_worker_id', table_name='worker_updates')
    op.drop_index(op.f('ix_worker_updates_case_id'), table_name='worker_updates')
    op.drop_table('worker_updates')
