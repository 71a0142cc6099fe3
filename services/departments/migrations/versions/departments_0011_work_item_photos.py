"""work items keep the worker's photo links (shown in the clerk console)

Revision ID: departments_0011
Revises: departments_0010
Create Date: 2026-12-08 01:00:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = 'departments_0011'
down_revision: str | Sequence[str] | None = 'departments_0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        'work_items',
        sa.Column('photo_urls', postgresql.JSONB(astext_type=sa.Text()), server_default='[]', nullable=False),
    )


def downgrade() -> None:
    op.drop_column('work_items', 'photo_urls')
