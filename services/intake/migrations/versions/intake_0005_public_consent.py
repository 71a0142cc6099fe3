"""the reporter's consent to show a case's description and photo publicly (Open311)

Revision ID: intake_0005
Revises: intake_0004
Create Date: 2026-12-08 01:00:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'intake_0005'
down_revision: str | Sequence[str] | None = 'intake_0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Existing cases were reported without being asked: they never agreed (false).
    op.add_column('cases', sa.Column('public_consent', sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade() -> None:
    op.drop_column('cases', 'public_consent')
