"""every dispatch is its own department task (department_tasks), and a rating names the task it rated

The three rates read department_tasks: a re-dispatch after a return no longer overwrites the returning
department's outcome. Existing work items are carried over as one task each (their current dispatch); earlier
dispatches of returned cases were overwritten before this migration and cannot be recovered beyond the returns
table (work_item_returns keeps their department and time).

Revision ID: departments_0008
Revises: departments_0007
Create Date: 2026-12-08 01:10:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision: str = 'departments_0008'
down_revision: str | Sequence[str] | None = 'departments_0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DUE_AT = """CASE WHEN linked THEN NULL
     WHEN returned_at IS NOT NULL AND signed_at IS NULL AND returned_at <= sign_deadline THEN NULL
     ELSE least(first_resolved_at, returned_at, deadline) END"""


def upgrade() -> None:
    op.create_table(
        'department_tasks',
        sa.Column('case_id', UUID(as_uuid=True), nullable=False),
        sa.Column('dispatch_no', sa.Integer(), nullable=False),
        sa.Column('department', sa.Text(), nullable=False),
        sa.Column('item_code', sa.Text(), nullable=False),
        sa.Column('community_id', sa.Text(), nullable=False),
        sa.Column('dispatched_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('sign_deadline', sa.DateTime(timezone=True), nullable=False),
        sa.Column('original_deadline', sa.DateTime(timezone=True), nullable=False),
        sa.Column('deadline', sa.DateTime(timezone=True), nullable=False),
        sa.Column('signed_at', sa.DateTime(timezone=True)),
        sa.Column('returned_at', sa.DateTime(timezone=True)),
        sa.Column('first_resolved_at', sa.DateTime(timezone=True)),
        sa.Column('reopens', sa.Integer(), server_default='0', nullable=False),
        sa.Column('linked', sa.Boolean(), server_default='false', nullable=False),
        sa.Column('due_at', sa.DateTime(timezone=True), sa.Computed(DUE_AT, persisted=True)),
        sa.Column(
            'touched_at', sa.DateTime(timezone=True), sa.Computed(f'greatest(dispatched_at, {DUE_AT})', persisted=True)
        ),
        sa.PrimaryKeyConstraint('case_id', 'dispatch_no'),
    )
    op.create_index('ix_department_tasks_touched_at', 'department_tasks', ['touched_at'])
    op.create_index('ix_department_tasks_returned_at', 'department_tasks', ['department', 'returned_at'])
    op.execute(
        """
        INSERT INTO department_tasks (case_id, dispatch_no, department, item_code, community_id, dispatched_at,
            sign_deadline, original_deadline, deadline, signed_at, returned_at, first_resolved_at, linked)
        SELECT w.case_id, w.dispatch_no, w.department, w.item_code, w.community_id, w.dispatched_at,
            w.sign_deadline, coalesce(w.dispatched_at + w.resolve_hours * interval '1 hour', w.resolve_deadline),
            w.resolve_deadline, w.signed_at, r.returned_at, w.resolved_at, w.status = 'linked'
        FROM work_items AS w
        LEFT JOIN work_item_returns AS r ON r.case_id = w.case_id AND r.dispatch_no = w.dispatch_no
        """
    )
    op.add_column('feedback', sa.Column('dispatch_no', sa.Integer()))
    op.execute('UPDATE feedback SET dispatch_no = w.dispatch_no FROM work_items AS w WHERE w.case_id = feedback.case_id')


def downgrade() -> None:
    op.drop_column('feedback', 'dispatch_no')
    op.drop_index('ix_department_tasks_returned_at', table_name='department_tasks')
    op.drop_index('ix_department_tasks_touched_at', table_name='department_tasks')
    op.drop_table('department_tasks')
