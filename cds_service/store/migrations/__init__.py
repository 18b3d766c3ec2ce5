"""Alembic migrations of the store, run by `Store.migrate()` (no alembic.ini needed).

A new revision is a new file in `versions/` (template: `script.py.mako`), with the next 4-digit
revision id and `down_revision` set to the previous one; change `tables.py` to match.
"""
