"""communities keep their boundary; streets with theirs (imported, or dissolved from grids)

Revision ID: intake_0008
Revises: intake_0007
Create Date: 2026-12-08 04:00:00

A registry imported before this keeps no community or street boundary until its next import; exports draw them
from the grids meanwhile (gridloop/registry/geojson.py).
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = 'intake_0008'
down_revision: str | Sequence[str] | None = 'intake_0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('communities', sa.Column('boundary', postgresql.JSONB(astext_type=sa.Text()), nullable=True))
    op.create_table(
        'streets',
        sa.Column('name', sa.Text(), nullable=False),
        sa.Column('boundary', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.PrimaryKeyConstraint('name'),
    )


def downgrade() -> None:
    op.drop_table('streets')
    op.drop_column('communities', 'boundary')
