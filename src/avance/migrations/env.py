"""Alembic environment: the engine is handed over by avance.migrations.upgrade (or built from the URL)."""

from __future__ import annotations

from alembic import context

from avance.kit.settings import get_settings
from avance.migrations import schema
from avance.store.engine import make_engine

config = context.config
engine = config.attributes.get("engine")
if engine is None:  # alembic command line: use the node's configured database
    engine = make_engine(get_settings().resolved_database_url())

with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=schema(),
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    context.run_migrations()
