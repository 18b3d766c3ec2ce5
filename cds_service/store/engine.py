"""Engines for the store: SQLite (file, WAL, busy timeout, BEGIN IMMEDIATE) or PostgreSQL.

SQLite: WAL lets readers run beside the one writer; every transaction starts with
`BEGIN IMMEDIATE`, so a writer waits for the write lock (busy timeout, 30 s) at its first
statement instead of failing with "database is locked" when it upgrades a read lock; that holds
for threads of one process and for separate processes (gunicorn workers) alike.

PostgreSQL: driver psycopg 3. `postgresql://` and `postgres://` URLs are switched to
`postgresql+psycopg://` (SQLAlchemy's default PostgreSQL driver, psycopg2, is not installed).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.pool import StaticPool

BUSY_TIMEOUT_SECONDS = 30


def normalise_database_url(url: str) -> URL:
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def create_store_engine(url: str) -> Engine:
    parsed = normalise_database_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed)
    return sa.create_engine(parsed, pool_pre_ping=True, pool_size=5, max_overflow=10)


def _sqlite_engine(url: URL) -> Engine:
    in_memory = not url.database or url.database == ":memory:"
    options: dict[str, Any] = {
        "connect_args": {"timeout": BUSY_TIMEOUT_SECONDS, "check_same_thread": False}
    }
    if in_memory:
        options["poolclass"] = StaticPool  # one shared connection: one database
    else:
        Path(url.database or "").parent.mkdir(parents=True, exist_ok=True)
        options.update(pool_size=5, max_overflow=10)
    engine = sa.create_engine(url, **options)
    sa.event.listen(engine, "connect", _sqlite_on_connect)
    sa.event.listen(engine, "begin", _sqlite_on_begin)
    return engine


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # the driver emits no BEGIN; `_sqlite_on_begin` does
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_SECONDS * 1000}")
        # switching to WAL needs a lock that the busy timeout may not wait for; the file keeps
        # the mode, so a store set up once (`icaht-cds serve` does, before its workers start)
        # is only read here, never switched again by racing workers (issue 13 finding 12)
        if cursor.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
            cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = FULL")  # a committed row survives a power cut
    finally:
        cursor.close()


def _sqlite_on_begin(connection: sa.Connection) -> None:
    connection.exec_driver_sql("BEGIN IMMEDIATE")
