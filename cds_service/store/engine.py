"""Engines for the store: SQLite (file, WAL, busy timeout, BEGIN IMMEDIATE) or PostgreSQL.

SQLite: WAL lets readers run beside the one writer; every transaction that may write starts
with `BEGIN IMMEDIATE`, so a writer waits for the write lock (busy timeout, 30 s) at its first
statement instead of failing with "database is locked" when it upgrades a read lock; that holds
for threads of one process and for separate processes (gunicorn workers) alike. In the gevent
workers the wait tries again every millisecond at most (`_begin_polling`), not after SQLite's
longer and longer sleeps. A connection that only reads (`reading`) begins DEFERRED and takes
no write lock.

PostgreSQL: driver psycopg 3. `postgresql://` and `postgres://` URLs are switched to
`postgresql+psycopg://` (SQLAlchemy's default PostgreSQL driver, psycopg2, is not installed).
"""

from __future__ import annotations

import os
import sqlite3
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.pool import StaticPool

BUSY_TIMEOUT_SECONDS = 30
# Under gevent: the pauses between two tries for the write lock (`_begin_polling`); a writer
# holds the lock for about 0.5 ms (its insert and fsync)
LOCK_RETRY_DELAYS_SECONDS = (0.0001, 0.0002, 0.0005, 0.001)
# the execution option of a connection that only reads (`reading`)
READ_ONLY_OPTION = "icaht_read_only"


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
    sa.event.listen(engine, "begin", _begin_polling if _gevent_patched() else _sqlite_on_begin)
    return engine


def _gevent_patched() -> bool:
    """True in a process monkey-patched by gevent: the gunicorn worker, where four processes
    write to one SQLite file under load."""
    monkey = sys.modules.get("gevent.monkey")
    return monkey is not None and bool(monkey.is_module_patched("time"))


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


@contextmanager
def reading(engine: Engine) -> Iterator[sa.Connection]:
    """A connection that only reads. On SQLite its transaction begins DEFERRED: in WAL a reader
    takes no write lock, so a hook call's override read, a readiness probe or a report neither
    waits for a writer's insert and fsync nor holds up the writers (issue 20: with BEGIN
    IMMEDIATE every read of every call queued for the one write lock). A statement that writes
    on this connection would have to upgrade its lock and could fail at once with "database is
    locked": the store's writers use `engine.begin()`."""
    with engine.connect() as connection:
        yield connection.execution_options(**{READ_ONLY_OPTION: True})


def commits_unsynced(engine: Engine) -> bool:
    """Whether `writing_unsynced` commits without an fsync on this engine (SQLite), so that
    its writes need a later fsync of the WAL (`sync_wal`) to be durable."""
    return engine.dialect.name == "sqlite"


@contextmanager
def writing_unsynced(engine: Engine) -> Iterator[sa.Connection]:
    """A write transaction whose commit is not flushed to the disk on its own: on SQLite it
    commits with `synchronous = NORMAL` (written to the WAL, visible to every connection and
    process at once, kept through a crash of the process, not yet fsynced), and becomes durable
    with the next fsync of the WAL: any later commit with `synchronous = FULL` (the store's
    setting; its fsync covers the whole file) or `sync_wal`. The replay claim uses it, so that
    a hook call pays for one fsync, the audit commit's, instead of two (decision 0035, third
    amendment). Other engines: an ordinary transaction."""
    if not commits_unsynced(engine):
        with engine.begin() as connection:
            yield connection
        return
    with engine.connect() as connection:
        raw = connection.connection.driver_connection
        assert raw is not None
        raw.execute("PRAGMA synchronous = NORMAL")  # outside a transaction: the driver's own
        try:
            with connection.begin():
                yield connection
        finally:
            try:
                raw.execute("PRAGMA synchronous = FULL")
            except sqlite3.Error:
                # never back into the pool committing without fsync: the pool drops it
                connection.invalidate()
                raise


def sync_wal(engine: Engine) -> None:
    """fsync the SQLite database's WAL file: what a commit with `synchronous = FULL` does after
    writing its frames, so every commit before this call, `writing_unsynced` ones included,
    survives a power cut afterwards. No WAL file: nothing pending in one (SQLite deletes it
    after a complete checkpoint, which synced the database file). Other engines, and an
    in-memory SQLite database: nothing to do."""
    if not commits_unsynced(engine):
        return
    database = engine.url.database
    if not database or database == ":memory:":
        return
    try:
        descriptor = os.open(f"{database}-wal", os.O_RDONLY)
    except FileNotFoundError:
        return
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _read_only(connection: sa.Connection) -> bool:
    return bool(connection.get_execution_options().get(READ_ONLY_OPTION))


def _sqlite_on_begin(connection: sa.Connection) -> None:
    connection.exec_driver_sql("BEGIN" if _read_only(connection) else "BEGIN IMMEDIATE")


def _blocking_sleep(seconds: float) -> None:
    """time.sleep as it was before gevent patched it: the worker waits, its greenlets too."""
    from gevent.monkey import get_original  # noqa: PLC0415 (only in a gevent worker)

    get_original("time", "sleep")(seconds)


class LockWait:
    """How `_begin_polling` waits: its clock and its sleep, so that tests can drive the wait
    without waiting."""

    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = _blocking_sleep


def _begin_polling(connection: sa.Connection) -> None:
    """`BEGIN IMMEDIATE` that tries for another process's write lock every millisecond at most.

    SQLite's own busy handler sleeps 1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50 and then 100 ms
    between tries: a writer of one worker that finds the lock taken twice waits 3 ms, four
    times 18 ms, and the lock is free again within about 0.5 ms each time (one insert and its
    fsync), so among four busy workers some calls lost hundreds of milliseconds asleep. Here
    each try fails at once (busy timeout 0) and the next one follows after 0.1, 0.2, 0.5, then
    every 1 ms. The wait still blocks the worker, as SQLite's did: a wait that yields to the
    worker's other connections (gevent.sleep) was measured and made the c=32 tail worse
    (docs/decisions/0035, amendment). The limit stays BUSY_TIMEOUT_SECONDS, and the error at
    the limit is the one a plain busy timeout gives: the last try is the same statement,
    failing with "database is locked". The connection keeps its 30 s busy timeout for every
    other statement.
    """
    if _read_only(connection):
        connection.exec_driver_sql("BEGIN")  # a reader takes no write lock: nothing to wait for
        return
    raw = connection.connection.driver_connection
    assert raw is not None
    deadline = LockWait.clock() + BUSY_TIMEOUT_SECONDS
    delays = _retry_delays()
    raw.execute("PRAGMA busy_timeout = 0")
    try:
        while True:
            try:
                connection.exec_driver_sql("BEGIN IMMEDIATE")
                return
            except sa.exc.OperationalError as error:
                remaining = deadline - LockWait.clock()
                if not _is_busy(error) or remaining <= 0:
                    raise
                LockWait.sleep(min(next(delays), remaining))
    finally:
        raw.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_SECONDS * 1000}")


def _retry_delays() -> Iterator[float]:
    yield from LOCK_RETRY_DELAYS_SECONDS
    while True:
        yield LOCK_RETRY_DELAYS_SECONDS[-1]


def _is_busy(error: sa.exc.OperationalError) -> bool:
    code = getattr(error.orig, "sqlite_errorcode", None)
    return code is not None and code & 0xFF == sqlite3.SQLITE_BUSY
