"""outbox rows carry the trace context of the span that wrote them

Revision ID: router_0007
Revises: router_0006
Create Date: 2026-12-08 04:00:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = 'router_0007'
down_revision: str | Sequence[str] | None = 'router_0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable, no default: adding it rewrites nothing, and rows written untraced stay NULL.
    op.add_column('outbox', sa.Column('trace_context', postgresql.JSONB(none_as_null=True), nullable=True))


def downgrade() -> None:
    op.drop_column('outbox', 'trace_context')
