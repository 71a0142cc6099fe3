"""grid boundaries, deactivated grids and workers, reports placed outside their grid

Revision ID: intake_0003
Revises: intake_0002
Create Date: 2026-12-08 01:00:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = 'intake_0003'
down_revision: str | Sequence[str] | None = 'intake_0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('grids', sa.Column('boundary', postgresql.JSONB(astext_type=sa.Text()), nullable=True))
    op.add_column('grids', sa.Column('active', sa.Boolean(), server_default=sa.true(), nullable=False))
    op.add_column('workers', sa.Column('active', sa.Boolean(), server_default=sa.true(), nullable=False))
    op.add_column('cases', sa.Column('outside_grid_m', sa.Float(), nullable=True))
    op.add_column('cases', sa.Column('located_grid_id', sa.Text(), nullable=True))
    op.create_index(
        'ix_cases_outside_grid', 'cases', ['reported_at'], postgresql_where=sa.text('outside_grid_m IS NOT NULL')
    )
    _draw_generated_grids()


def _draw_generated_grids() -> None:
    """A database seeded before grids had boundaries holds the generated district as centre points: give those
    grids (same id, same point) their generated polygon, so Open311 placement and place checks work at once.
    Other grids are left alone; a real district arrives by import with its own boundaries."""
    import json

    from shapely.geometry import mapping

    from gridloop.registry.generate import REGISTRY_SEED, generate_registry

    rows = [
        {"grid_id": g.grid_id, "lat": g.lat, "lon": g.lon, "boundary": json.dumps(mapping(g.boundary))}
        for g in generate_registry(REGISTRY_SEED).grids
        if g.boundary is not None
    ]
    op.get_bind().execute(
        sa.text(
            "UPDATE grids SET boundary = CAST(:boundary AS jsonb) "
            "WHERE grid_id = :grid_id AND lat = :lat AND lon = :lon AND boundary IS NULL"
        ),
        rows,
    )


def downgrade() -> None:
    op.drop_index('ix_cases_outside_grid', table_name='cases')
    op.drop_column('cases', 'located_grid_id')
    op.drop_column('cases', 'outside_grid_m')
    op.drop_column('workers', 'active')
    op.drop_column('grids', 'active')
    op.drop_column('grids', 'boundary')
