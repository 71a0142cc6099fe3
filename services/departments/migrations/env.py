from gridloop.delivery.alembic_env import run_migrations
from services.departments.tables import metadata

run_migrations(metadata)
