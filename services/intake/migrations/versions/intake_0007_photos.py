"""photos uploaded from the worker app

Revision ID: intake_0007
Revises: intake_0006
Create Date: 2026-12-08 01:00:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'intake_0007'
down_revision: str | Sequence[str] | None = 'intake_0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('photos',
    sa.Column('photo_id', sa.Text(), nullable=False),
    sa.Column('worker_id', sa.Text(), nullable=False),
    sa.Column('content_type', sa.Text(), nullable=False),
    sa.Column('data', sa.LargeBinary(), nullable=False),
    sa.Column('uploaded_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('photo_id')
    )


def downgrade() -> None:
    op.drop_table('photos')
