from gridloop.delivery.alembic_env import run_migrations
from services.router.tables import metadata

run_migrations(metadata)
