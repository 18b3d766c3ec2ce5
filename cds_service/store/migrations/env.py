"""Alembic environment: runs on the connection `Store.migrate()` hands over.

Every pending step runs in one transaction, which reads the database's revision first; so a
second `migrate()` (several gunicorn workers or replicas starting at once, `icaht-cds migrate`
beside `serve`) waits for the first to finish and then finds nothing to do. On PostgreSQL a
transaction-scoped advisory lock serialises them; on SQLite the store's `BEGIN IMMEDIATE` does.

Alembic treats SQLite as having no transactional DDL and by default commits after each step:
another process could then read the revision between two steps and apply the next step a
second time (CI saw 0003 applied twice). SQLite's DDL is transactional once the driver leaves
transactions to SQLAlchemy, as the store's engine does (engine.py), hence `transactional_ddl`.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

# an arbitrary, fixed 64-bit key for pg_advisory_xact_lock: "icaht-cds migrations"
MIGRATION_LOCK_KEY = 0x1CA47CD5


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run the store's migrations through cds_service.store.Store.migrate()")
    context.configure(
        connection=connection,
        target_metadata=None,
        render_as_batch=connection.dialect.name == "sqlite",
        transactional_ddl=True,
        transaction_per_migration=False,
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.execute(
                sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
            )
        context.run_migrations()


if context.is_offline_mode():
    raise RuntimeError("offline (SQL script) migrations are not supported")
run_migrations_online()
