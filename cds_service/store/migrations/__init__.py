"""Alembic migrations of the store, run by `icaht-cds migrate` / `Store.migrate()` (no alembic.ini).

A new revision is a new file in `versions/` (template: `script.py.mako`), with the next 4-digit
revision id and `down_revision` set to the previous one; change `tables.py` to match.

Policy (docs/decisions/0033): a revision must leave the previous release working on the migrated
schema, because old pods keep serving during a rolling upgrade and a rollback runs the old code on
it. Additive only: new tables, nullable columns, columns with a server default, indexes. Drops,
renames, type changes and NOT NULL without a server default wait for a later release (expand, then
contract). tests/integration/test_rolling_upgrade.py checks the ids and the operations it names.
"""
