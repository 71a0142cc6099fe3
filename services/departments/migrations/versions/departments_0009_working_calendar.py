"""the working calendar's own days: district days off and national schedules of years the package lacks

Revision ID: departments_0009
Revises: departments_0008
Create Date: 2026-12-08 01:20:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'departments_0009'
down_revision: str | Sequence[str] | None = 'departments_0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'calendar_days',
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('scope', sa.Text(), nullable=False),
        sa.Column('working', sa.Boolean(), nullable=False),
        sa.Column('note', sa.Text(), nullable=False),
        sa.Column('entered_by', sa.Text(), nullable=False),
        sa.Column('entered_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('day', 'scope'),
        sa.CheckConstraint("scope IN ('district', 'national')", name='ck_calendar_days_scope'),
    )
    op.create_table(
        'calendar_years',
        sa.Column('year', sa.Integer(), nullable=False),
        sa.Column('source', sa.Text(), nullable=False),
        sa.Column('entered_by', sa.Text(), nullable=False),
        sa.Column('entered_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('year'),
    )


def downgrade() -> None:
    op.drop_table('calendar_years')
    op.drop_table('calendar_days')
