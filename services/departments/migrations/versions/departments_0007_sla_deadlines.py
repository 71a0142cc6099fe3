"""an SLA deadline is not a clock: sla_clocks -> sla_deadlines, column clock -> deadline_name (sla_marks too)

Revision ID: departments_0007
Revises: departments_0006
Create Date: 2026-12-08 01:00:00

"""
from collections.abc import Sequence

from alembic import op

revision: str = 'departments_0007'
down_revision: str | Sequence[str] | None = 'departments_0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.rename_table('sla_clocks', 'sla_deadlines')
    op.alter_column('sla_deadlines', 'clock', new_column_name='deadline_name')
    op.alter_column('sla_marks', 'clock', new_column_name='deadline_name')
    op.execute('ALTER INDEX ix_sla_clocks_next_fire_at RENAME TO ix_sla_deadlines_next_fire_at')
    op.execute('ALTER TABLE sla_deadlines RENAME CONSTRAINT sla_clocks_pkey TO sla_deadlines_pkey')


def downgrade() -> None:
    op.execute('ALTER TABLE sla_deadlines RENAME CONSTRAINT sla_deadlines_pkey TO sla_clocks_pkey')
    op.execute('ALTER INDEX ix_sla_deadlines_next_fire_at RENAME TO ix_sla_clocks_next_fire_at')
    op.alter_column('sla_marks', 'deadline_name', new_column_name='clock')
    op.alter_column('sla_deadlines', 'deadline_name', new_column_name='clock')
    op.rename_table('sla_deadlines', 'sla_clocks')
