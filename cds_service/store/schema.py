"""Where a database's schema stands against this release's migrations, and migrating it.

Revision ids are 4-digit numbers, one after the other (0001, 0002, ...: the policy in
migrations/__init__.py and docs/decisions/0033). That order is what lets a release tell a
database migrated by a newer release ("beyond": an id above its own newest one, which it cannot
find among its own scripts) from a database it does not know at all ("unknown").

States, and what /readyz makes of them:
- "current": at this release's newest revision: ready.
- "beyond": a newer release migrated it (a rolling upgrade in progress, or a rollback after one):
  ready, because migrations are additive (expand first, contract a release later), so this
  release's reads and writes still work. `migrate()` leaves it alone.
- "behind": an older revision, or no schema yet: not ready (the check "schema") until
  `icaht-cds migrate` runs (or the service migrates on start: ICAHT_CDS_MIGRATE_ON_START).
- "unknown": a revision that is neither ours nor a later 4-digit one: not ready, not touched.
"""

from __future__ import annotations

import functools
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
REVISION_ID = re.compile(r"^\d{4}$")
# Alembic keeps the running migration in module globals (`alembic.context`): one at a time per
# process. Across processes, the database serialises them (see migrations/env.py).
_MIGRATION_LOCK = threading.Lock()

State = Literal["current", "beyond", "behind", "unknown"]


class SchemaError(RuntimeError):
    """The database holds a revision this release does not know and cannot order."""


@dataclass(frozen=True)
class SchemaStatus:
    database: str | None  # the database's revision; None: no schema yet
    code: str  # this release's newest revision
    state: State

    @property
    def ready(self) -> bool:
        """At or beyond this release's revision: the service may take traffic."""
        return self.state in ("current", "beyond")

    def describe(self) -> str:
        found = self.database or "no schema"
        if self.state == "behind":
            return f"database at {found}, this release needs {self.code}: run `icaht-cds migrate`"
        if self.state == "beyond":
            return f"database at {found}, migrated by a newer release (this release: {self.code})"
        if self.state == "unknown":
            return f"database at {found}: not a revision of this service ({self.code} expected)"
        return f"database at {found}"


def alembic_config(migrations: Path = MIGRATIONS) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations))
    return config


def schema_status(engine: sa.Engine, migrations: Path = MIGRATIONS) -> SchemaStatus:
    head, known = _revisions(migrations)
    with engine.connect() as connection:
        found = MigrationContext.configure(connection).get_current_revision()
    return SchemaStatus(found, head, _state(found, head, known))


@functools.cache  # the scripts of a release do not change while it runs (/readyz asks often)
def _revisions(migrations: Path) -> tuple[str, frozenset[str]]:
    """This release's newest revision and all its revisions."""
    scripts = ScriptDirectory.from_config(alembic_config(migrations))
    head = scripts.get_current_head()
    if head is None:
        raise SchemaError(f"no migrations in {migrations}")
    return head, frozenset(script.revision for script in scripts.walk_revisions())


def _state(found: str | None, head: str, known: frozenset[str]) -> State:
    if found == head:
        return "current"
    if found is None or found in known:
        return "behind"
    if REVISION_ID.match(found) and REVISION_ID.match(head) and int(found) > int(head):
        return "beyond"
    return "unknown"


def migrate(engine: sa.Engine, migrations: Path = MIGRATIONS) -> tuple[SchemaStatus, SchemaStatus]:
    """Bring a database that is behind to this release's newest revision; leave one that is
    current or beyond alone. Idempotent; safe to run concurrently. Returns (before, after);
    SchemaError for an unknown revision (nothing is changed)."""
    # the whole of it under the process's lock, the first read included: threads that open
    # a fresh SQLite file together would otherwise race for the switch to WAL, which the busy
    # timeout does not cover ("database is locked"); across processes the database serialises
    with _MIGRATION_LOCK:
        before = schema_status(engine, migrations)
        if before.state == "unknown":
            raise SchemaError(before.describe())
        if before.state != "behind":
            return before, before
        config = alembic_config(migrations)
        with engine.connect() as connection:
            config.attributes["connection"] = connection
            try:
                command.upgrade(config, "head")
                connection.commit()
            except CommandError:
                # a newer release migrated it since `before` (Alembic cannot find that revision)
                connection.rollback()
                if schema_status(engine, migrations).state != "beyond":
                    raise
        return before, schema_status(engine, migrations)
