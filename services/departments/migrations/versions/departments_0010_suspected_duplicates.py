"""suspected duplicates: a likely match waits for a clerk (work_items.suspected_duplicate_of, duplicate_score)

Revision ID: departments_0010
Revises: departments_0009
Create Date: 2026-12-08 01:40:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision: str = 'departments_0010'
down_revision: str | Sequence[str] | None = 'departments_0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('work_items', sa.Column('suspected_duplicate_of', UUID(as_uuid=True)))
    op.add_column('work_items', sa.Column('duplicate_score', sa.Float()))


def downgrade() -> None:
    op.drop_column('work_items', 'duplicate_score')
    op.drop_column('work_items', 'suspected_duplicate_of')
