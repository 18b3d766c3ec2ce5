"""The feedback / audit / replay-cache store on both real engines: a SQLite file and PostgreSQL.

PostgreSQL comes from tests/integration/conftest.py (Debian's binaries, started by the session).
Each test gets a fresh, empty database on each engine.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import sqlite3
import stat
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from cds_service.store import (
    ANONYMOUS_CLIENT,
    AuditKeyError,
    AuditRecord,
    CardNotIssuedError,
    FeedbackRecord,
    Store,
    normalise_database_url,
    schema,
    validate_feedback,
)
from cds_service.store.store import MIGRATIONS

AUDIT_KEY = b"test-audit-key-0123456789-abcdefghij"
PATIENT = "MRN-004217-SECRET"
T0 = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
CLIENT = "https://ehr.example.org"  # the JWT issuer cards are issued to (decision 0017)
OTHER_CLIENT = "https://other-ehr.example.org"


@dataclass
class Clock:
    now: datetime = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(params=["sqlite", "postgresql"])
def engine_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def store_url(engine_name: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """An empty database on the engine under test."""
    if engine_name == "sqlite":
        return f"sqlite:///{tmp_path / 'state' / 'icaht-cds.sqlite3'}"
    base: str = request.getfixturevalue("postgres_url")
    name = f"store_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_libpq(base), autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    return base.rsplit("/", 1)[0] + f"/{name}"


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


@pytest.fixture
def open_store(store_url: str) -> Iterator[Callable[..., Store]]:
    opened: list[Store] = []

    def make(**options: object) -> Store:
        options.setdefault("audit_key", AUDIT_KEY)
        store = Store(store_url, **options)  # type: ignore[arg-type]
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


@pytest.fixture
def store(open_store: Callable[..., Store]) -> Store:
    store = open_store()
    store.migrate()
    return store


def feedback(card: str | None = None, **changes: object) -> FeedbackRecord:
    values: dict[str, object] = {
        "client": CLIENT,
        "service_id": "icaht-patient-view",
        "card_uuid": card or str(uuid.uuid4()),
        "outcome": "overridden",
        "outcome_timestamp": T0,
        "override_reason_code": "not-applicable",
        "override_reason_system": "https://icaht-cds.invalid/override-reasons",
        "override_reason_display": "Not applicable to this patient",
        "user_comment": "seen by the haematologist",
    }
    values.update(changes)
    return FeedbackRecord(**values)  # type: ignore[arg-type]


def audit(card: str | None = None, **changes: object) -> AuditRecord:
    values: dict[str, object] = {
        "client": CLIENT,
        "hook_instance": str(uuid.uuid4()),
        "service_id": "icaht-patient-view",
        "hook": "patient-view",
        "rules_version": "icaht-rules 1.4.0",
        "card_uuid": card,
        "patient_id": PATIENT,
        "rule_ids": ("M03", "M07"),
        "early_grade": "3",
        "late_grade": None,
        "timings_ms": {"auth": 0.4, "gather": 3.1, "engine": 0.8},
    }
    values.update(changes)
    return AuditRecord(**values)  # type: ignore[arg-type]


# ---------------------------------------------------------------- schema


EXPECTED_TABLES = {"alembic_version", "feedback", "audit", "replay_cache", "card_override"}


def test_migrations_create_the_schema_on_an_empty_database_and_are_idempotent(
    open_store: Callable[..., Store],
) -> None:
    store = open_store()
    assert set(sa.inspect(store.engine).get_table_names()) == set()
    store.migrate()
    inspector = sa.inspect(store.engine)
    assert set(inspector.get_table_names()) == EXPECTED_TABLES
    audit_columns = {column["name"] for column in inspector.get_columns("audit")}
    assert "patient_hash" in audit_columns and "patient_id" not in audit_columns
    assert store.schema_is_current()
    store.migrate()  # a second run changes nothing
    store.migrate()
    assert set(sa.inspect(store.engine).get_table_names()) == EXPECTED_TABLES
    assert store.counts() == {"feedback": 0, "audit": 0, "replay_cache": 0, "card_override": 0}
    assert store.ping()


def test_concurrent_migrations_from_several_workers(open_store: Callable[..., Store]) -> None:
    """Workers starting together all migrate; exactly one creates the schema, none fails."""
    stores = [open_store() for _ in range(4)]
    errors: list[BaseException] = []

    def migrate(store: Store) -> None:
        try:
            store.migrate()
        except BaseException as error:  # collected and reported below
            errors.append(error)

    threads = [threading.Thread(target=migrate, args=(s,)) for s in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert all(s.schema_is_current() for s in stores)


MIGRATE = """
import sys
from cds_service.store import Store
Store(sys.argv[1], audit_key=b"x" * 32).migrate()
"""


def test_a_migration_holds_the_write_lock_from_its_first_step_to_its_last(tmp_path: Path) -> None:
    """SQLite: another process that migrates while this one is part-way through waits for it,
    then finds the schema current; it never applies a step this one applies too. (CI once saw
    a second process apply 0003 again and fail: the migration committed after each step, and
    another process could take the lock between two steps.) Here a second process migrates
    each time this store is about to take the write lock after a commit: the gap in which that
    race happened. (PostgreSQL: one transaction under an advisory lock, migrations/env.py.)"""
    url = f"sqlite:///{tmp_path / 'icaht-cds.sqlite3'}"
    store = Store(url, audit_key=AUDIT_KEY)
    commits = 0
    second_process: list[subprocess.CompletedProcess[bytes]] = []

    def count_commit(_connection: sa.Connection) -> None:
        nonlocal commits
        commits += 1

    def migrate_elsewhere_first(_connection: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if commits and statement == "BEGIN IMMEDIATE":
            argv = [sys.executable, "-c", MIGRATE, url]
            run = subprocess.run(argv, check=False, capture_output=True, timeout=120)
            second_process.append(run)

    sa.event.listen(store.engine, "commit", count_commit)
    sa.event.listen(store.engine, "before_cursor_execute", migrate_elsewhere_first)
    try:
        store.migrate()
    finally:
        sa.event.remove(store.engine, "before_cursor_execute", migrate_elsewhere_first)
        sa.event.remove(store.engine, "commit", count_commit)
    assert commits == 1  # the whole migration is one transaction
    assert second_process, "the second process never ran"
    assert [run.stderr.decode() for run in second_process if run.returncode != 0] == []
    assert store.schema_is_current()


FAILING_STEPS = {
    "0001_table.py": """
import sqlalchemy as sa
from alembic import op
revision, down_revision, branch_labels, depends_on = "0001", None, None, None
def upgrade() -> None:
    op.create_table("first_step", sa.Column("id", sa.Integer, primary_key=True))
""",
    "0002_fails.py": """
from alembic import op
revision, down_revision, branch_labels, depends_on = "0002", "0001", None, None
def upgrade() -> None:
    op.execute("SELECT * FROM no_such_table")
""",
}


def test_a_failed_step_rolls_back_every_step_of_its_run(
    open_store: Callable[..., Store], tmp_path: Path
) -> None:
    """One transaction for the whole run (migrations/env.py): when the second step fails, the
    first one's table and revision are gone too, and the next run starts from nothing."""
    migrations = tmp_path / "migrations"
    (migrations / "versions").mkdir(parents=True)
    (migrations / "env.py").write_text((MIGRATIONS / "env.py").read_text())
    for name, text in FAILING_STEPS.items():
        (migrations / "versions" / name).write_text(text)
    store = open_store()
    with pytest.raises(sa.exc.DBAPIError, match="no_such_table"):
        schema.migrate(store.engine, migrations)
    assert "first_step" not in sa.inspect(store.engine).get_table_names()
    assert schema.schema_status(store.engine, migrations).database is None


def test_fresh_database_is_not_current(open_store: Callable[..., Store]) -> None:
    assert not open_store().schema_is_current()


# ---------------------------------------------------------------- round trips


def test_feedback_and_audit_round_trip(store: Store) -> None:
    card = str(uuid.uuid4())
    shown = audit(card)
    store.record_audit(shown, audit(None, hook_instance=shown.hook_instance))
    body = {
        "feedback": [
            {
                "card": card,
                "outcome": "accepted",
                "acceptedSuggestions": [{"id": "s-1"}, {"id": "s-2"}],
                "outcomeTimestamp": "2026-11-24T13:05:00+01:00",
            }
        ]
    }
    (record,) = validate_feedback(body, service_id="icaht-patient-view", client=CLIENT)
    (row_id,) = store.record_feedback(record)

    (row,) = store.feedback_rows(card)
    assert row["id"] == row_id
    assert row["outcome"] == "accepted"
    assert row["accepted_suggestions"] == ["s-1", "s-2"]
    assert row["outcome_timestamp"] == datetime(2026, 11, 24, 12, 5, tzinfo=UTC)
    assert row["received_at"].tzinfo is not None
    # what the EHR does not send is taken from the audit row of the card we showed
    assert row["hook_instance"] == shown.hook_instance
    assert row["rules_version"] == "icaht-rules 1.4.0"

    (audit_row,) = store.audit_rows(card)
    assert audit_row["rule_ids"] == ["M03", "M07"]
    assert (audit_row["early_grade"], audit_row["late_grade"]) == ("3", None)
    assert audit_row["timings_ms"] == {"auth": 0.4, "gather": 3.1, "engine": 0.8}
    assert audit_row["hook"] == "patient-view"
    assert store.counts() == {"feedback": 1, "audit": 2, "replay_cache": 0, "card_override": 0}


def test_override_feedback_round_trip_keeps_reason_and_comment(store: Store) -> None:
    record = feedback(hook_instance="h-given", rules_version="icaht-rules 1.5.0")
    store.record_audit(audit(record.card_uuid))
    store.record_feedback(record)
    (row,) = store.feedback_rows(record.card_uuid)
    assert row["override_reason_code"] == "not-applicable"
    assert row["override_reason_system"] == "https://icaht-cds.invalid/override-reasons"
    assert row["override_reason_display"] == "Not applicable to this patient"
    assert row["user_comment"] == "seen by the haematologist"
    # what the record names wins over the audit row
    assert (row["hook_instance"], row["rules_version"]) == ("h-given", "icaht-rules 1.5.0")


def test_100_concurrent_feedback_posts_are_all_stored(store: Store) -> None:
    """docs/design.md §6: nothing lost under concurrent writes (threads, as in gthread workers)."""
    cards = [str(uuid.uuid4()) for _ in range(100)]
    store.record_audit(*(audit(card) for card in cards))
    with ThreadPoolExecutor(max_workers=16) as pool:
        ids = list(pool.map(lambda card: store.record_feedback(feedback(card))[0], cards))
    assert len(set(ids)) == 100
    assert store.counts()["feedback"] == 100


WRITER = """
import sys, uuid
from datetime import UTC, datetime, timedelta
from cds_service.store import AuditRecord, FeedbackRecord, Store
store = Store(sys.argv[1], audit_key=b"x" * 32)
store.migrate()
later = datetime.now(UTC) + timedelta(minutes=5)
for _ in range(25):
    card = str(uuid.uuid4())
    store.record_audit(AuditRecord("h", "svc", "patient-view", "v1", card, client="c"))
    store.record_feedback(FeedbackRecord("svc", card, "overridden", datetime.now(UTC), client="c"))
    store.claim("https://ehr.example.org", card, later)
"""


def test_concurrent_writer_processes_all_succeed(
    open_store: Callable[..., Store], store_url: str
) -> None:
    """Separate processes (gunicorn workers) starting on an empty database, each migrating and
    then writing at once: no 'database is locked', nothing lost."""
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER, store_url], stderr=subprocess.PIPE)
        for _ in range(4)
    ]
    outcomes = [(w.communicate(timeout=120)[1], w.returncode) for w in writers]
    assert [err.decode() for err, code in outcomes if code != 0] == []
    store = open_store()
    assert store.schema_is_current()
    assert store.counts()["feedback"] == 100
    assert store.counts()["replay_cache"] == 100


# ---------------------------------------------------------------- durability


def test_data_survive_a_restart(
    engine_name: str, open_store: Callable[..., Store], request: pytest.FixtureRequest
) -> None:
    first = open_store()
    first.migrate()
    record = feedback()
    first.record_audit(audit(record.card_uuid))  # a status card: no concern, no override
    first.record_feedback(record)
    assert first.claim("https://ehr.example.org", "jti-1", T0 + timedelta(days=365))
    first.close()
    if engine_name == "postgresql":
        server = request.getfixturevalue("postgres_server")  # conftest.LocalPostgres
        server.restart()  # the server process itself goes away and comes back

    second = open_store()
    second.migrate()
    assert second.counts() == {
        "feedback": 1,
        "audit": 1,
        "replay_cache": 1,
        "card_override": 0,  # the card has no concern key: nothing to withhold later
    }
    assert second.feedback_rows(record.card_uuid)[0]["user_comment"] == record.user_comment
    assert not second.claim("https://ehr.example.org", "jti-1", T0 + timedelta(days=365))


# ---------------------------------------------------------------- replay cache


def test_replay_claim_holds_across_two_store_instances(open_store: Callable[..., Store]) -> None:
    """docs/design.md §4: a replay sent to another worker (another Store, same database) is a
    replay."""
    worker_a, worker_b = open_store(), open_store()
    worker_a.migrate()
    expires = datetime.now(UTC) + timedelta(minutes=6)
    assert worker_a.claim("https://ehr.example.org", "jti-A", expires)
    assert not worker_b.claim("https://ehr.example.org", "jti-A", expires)
    assert not worker_a.claim("https://ehr.example.org", "jti-A", expires)
    assert worker_b.claim("https://other-ehr.example.org", "jti-A", expires)  # per issuer
    assert worker_b.claim("https://ehr.example.org", "jti-B", expires)


def test_racing_replays_have_exactly_one_winner(open_store: Callable[..., Store]) -> None:
    workers = [open_store(), open_store()]
    workers[0].migrate()
    expires = datetime.now(UTC) + timedelta(minutes=6)
    barrier = threading.Barrier(20)

    def attempt(index: int) -> bool:
        barrier.wait()
        return workers[index % 2].claim("https://ehr.example.org", "same-jti", expires)

    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(attempt, range(20)))
    assert results.count(True) == 1


def test_expired_replay_rows_are_purged(open_store: Callable[..., Store]) -> None:
    clock = Clock()
    store = open_store(clock=clock, purge_interval_seconds=60)
    store.migrate()
    assert store.claim("iss", "old-1", T0 + timedelta(minutes=6))
    assert store.claim("iss", "old-2", T0 + timedelta(minutes=6))
    assert store.claim("iss", "long", T0 + timedelta(hours=2))
    clock.now = T0 + timedelta(minutes=10)
    assert store.purge_expired_replays() == 2
    assert store.counts()["replay_cache"] == 1

    # opportunistically too: a claim after the purge interval removes what has expired
    assert store.claim("iss", "new", T0 + timedelta(minutes=16))
    clock.now = T0 + timedelta(hours=3)
    assert store.claim("iss", "newer", T0 + timedelta(hours=3, minutes=6))
    assert store.counts()["replay_cache"] == 1


def test_an_expired_row_does_not_block_a_later_claim(open_store: Callable[..., Store]) -> None:
    clock = Clock()
    store = open_store(clock=clock, purge_interval_seconds=3600)
    store.migrate()
    assert store.claim("iss", "jti", T0 + timedelta(minutes=1))
    clock.now = T0 + timedelta(minutes=2)  # expired, not yet purged
    assert store.claim("iss", "jti", T0 + timedelta(minutes=8))
    assert not store.claim("iss", "jti", T0 + timedelta(minutes=8))


# ---------------------------------------------------------------- one fsync a call (0035)


def _in_five_minutes() -> datetime:
    return datetime.now(UTC) + timedelta(minutes=5)  # not yet expired: a replay stays refused


def _synchronous_of_each_write(store: Store) -> list[tuple[str, int]]:
    """(table written, the connection's PRAGMA synchronous) for each INSERT from now on:
    0 OFF, 1 NORMAL (no fsync at commit), 2 FULL."""
    seen: list[tuple[str, int]] = []

    @sa.event.listens_for(store.engine, "before_cursor_execute")
    def note(connection: Any, cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO"):
            table = statement.split()[2].strip('"')
            level = connection.connection.driver_connection.execute("PRAGMA synchronous")
            seen.append((table, level.fetchone()[0]))

    return seen


def test_a_claim_commits_without_its_own_fsync_and_the_pool_keeps_full(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'store.sqlite3'}", audit_key=AUDIT_KEY)
    store.migrate()
    writes = _synchronous_of_each_write(store)
    card = str(uuid.uuid4())
    assert store.claim(CLIENT, "jti-1", _in_five_minutes())
    store.record_audit(audit(card))
    store.record_feedback(feedback(card))
    assert writes == [("replay_cache", 1), ("audit", 2), ("feedback", 2)]
    # every pooled connection is back at FULL, the claim's own included
    with store.engine.connect() as first, store.engine.connect() as second:
        for connection in (first, second):
            raw = connection.connection.driver_connection
            assert raw.execute("PRAGMA synchronous").fetchone()[0] == 2
    # the claim is committed: another store (another worker) sees it at once
    other = Store(f"sqlite:///{tmp_path / 'store.sqlite3'}", audit_key=AUDIT_KEY)
    assert not other.claim(CLIENT, "jti-1", _in_five_minutes())
    store.close()
    other.close()


def test_a_claim_is_synced_before_an_answer_unless_a_later_commit_covered_it(
    tmp_path: Path, wal_syncs: list[str]
) -> None:
    store = Store(f"sqlite:///{tmp_path / 'store.sqlite3'}", audit_key=AUDIT_KEY)
    store.migrate()
    expires = _in_five_minutes()
    assert not store.claims_to_disk()  # nothing claimed: nothing to sync
    assert store.claim(CLIENT, "jti-1", expires)
    assert store.claims_to_disk()  # an answer with no commit after the claim (a 400, discovery)
    assert wal_syncs == ["store.sqlite3-wal"]
    assert not store.claims_to_disk()  # once

    card = str(uuid.uuid4())
    assert store.claim(CLIENT, "jti-2", expires)
    store.record_audit(audit(card))  # its FULL commit fsynced the WAL
    assert not store.claims_to_disk()
    assert store.claim(CLIENT, "jti-3", expires)
    store.record_feedback(feedback(card))
    assert not store.claims_to_disk()
    assert store.claim(CLIENT, "jti-refused", expires)
    with pytest.raises(CardNotIssuedError):  # rolled back: no commit covered the claim
        store.record_feedback(feedback(str(uuid.uuid4())))
    assert store.claims_to_disk()
    assert store.claim(CLIENT, "jti-4", expires)
    store.record_audit()  # no rows: no commit, so the claim still needs its sync
    assert store.claims_to_disk()

    assert not store.claim(CLIENT, "jti-1", expires)  # a replay writes nothing
    assert not store.claims_to_disk()
    assert wal_syncs == ["store.sqlite3-wal"] * 3
    store.close()


def test_claims_are_per_thread(tmp_path: Path, wal_syncs: list[str]) -> None:
    """Each request's thread (greenlet in a gevent worker) answers for its own claim: another
    thread's audit commit does not clear it, nor does its sync clear another's (both would be
    harmless, the fsync covers the whole file, but the flag must not leak between requests)."""
    store = Store(f"sqlite:///{tmp_path / 'store.sqlite3'}", audit_key=AUDIT_KEY)
    store.migrate()
    assert store.claim(CLIENT, "jti-main", _in_five_minutes())
    other: list[bool] = []
    thread = threading.Thread(target=lambda: other.append(store.claims_to_disk()))
    thread.start()
    thread.join()
    assert other == [False]
    assert store.claims_to_disk()
    store.close()


def test_on_postgresql_a_claim_is_durable_at_its_commit(open_store: Callable[..., Store]) -> None:
    store = open_store()
    store.migrate()
    assert store.claim(CLIENT, "jti-1", _in_five_minutes())
    if store.engine.dialect.name == "postgresql":
        assert not store.claims_to_disk()  # synchronous_commit stays on: nothing to add


# ---------------------------------------------------------------- pseudonymisation


def test_audit_rows_contain_no_patient_id_in_clear(
    engine_name: str, store: Store, store_url: str
) -> None:
    store.record_audit(audit(str(uuid.uuid4())))
    expected = hmac.new(AUDIT_KEY, PATIENT.encode(), hashlib.sha256).hexdigest()
    (row,) = store.audit_rows()
    assert row["patient_hash"] == expected == store.patient_hash(PATIENT)
    assert PATIENT not in json.dumps(row, default=str)
    assert PATIENT.encode() not in _raw_database(engine_name, store, store_url)


def _raw_database(engine_name: str, store: Store, store_url: str) -> bytes:
    """Everything the database holds, as bytes: the files (SQLite) or a text dump (PostgreSQL)."""
    if engine_name == "sqlite":
        path = Path(sa.make_url(store_url).database or "")
        return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
    with store.engine.connect() as connection:
        rows = connection.execute(sa.text("SELECT a::text FROM audit a")).scalars()
        return "\n".join(rows).encode()


def test_generated_dev_audit_key_is_private_and_kept(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'dev' / 'icaht-cds.sqlite3'}"
    first = Store(url)
    key_file = tmp_path / "dev" / "icaht-cds.audit-key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    again = Store(url)
    assert first.patient_hash(PATIENT) == again.patient_hash(PATIENT)
    assert first.patient_hash(PATIENT) != Store(url, audit_key=AUDIT_KEY).patient_hash(PATIENT)
    first.close()
    again.close()


def test_postgresql_requires_the_audit_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ICAHT_CDS_AUDIT_KEY", raising=False)
    with pytest.raises(AuditKeyError, match="ICAHT_CDS_AUDIT_KEY is required"):
        Store("postgresql+psycopg://postgres@127.0.0.1:1/none")
    monkeypatch.setenv("ICAHT_CDS_AUDIT_KEY", "too-short")
    with pytest.raises(AuditKeyError, match="at least 32"):
        Store("postgresql+psycopg://postgres@127.0.0.1:1/none")
    monkeypatch.setenv("ICAHT_CDS_AUDIT_KEY", "k" * 40)
    Store("postgresql+psycopg://postgres@127.0.0.1:1/none").close()


# ---------------------------------------------------------------- health, URLs


def test_ping_is_false_when_the_database_is_unreachable() -> None:
    store = Store("postgresql+psycopg://postgres@127.0.0.1:1/none", audit_key=AUDIT_KEY)
    assert store.ping() is False
    store.close()


def test_plain_postgresql_urls_use_psycopg_3() -> None:
    for url in ("postgresql://u@h/db", "postgres://u@h/db", "postgresql+psycopg://u@h/db"):
        assert normalise_database_url(url).drivername == "postgresql+psycopg"
    assert normalise_database_url("sqlite:///x.db").drivername == "sqlite"


def test_sqlite_store_uses_wal_and_a_busy_timeout(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'wal.sqlite3'}", audit_key=AUDIT_KEY)
    with store.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30_000
    store.close()


# ---------------------------------------------------------------- overrides (decision 0007)

CONCERN = "c0ffee" + "0" * 58


def alert_shown(card: str, **changes: object) -> AuditRecord:
    return audit(card, **({"rule_ids": ("M03",), "concern_key": CONCERN} | changes))


def test_overridden_alert_card_records_its_concern_for_that_patient(store: Store) -> None:
    card = str(uuid.uuid4())
    store.record_audit(alert_shown(card))
    (feedback_id,) = store.record_feedback(
        feedback(card, outcome_timestamp=T0 - timedelta(hours=1))
    )

    (row,) = store.override_rows()
    assert (row["rule_id"], row["concern_key"], row["card_uuid"]) == ("M03", CONCERN, card)
    assert row["feedback_id"] == feedback_id and row["reason_code"] == "not-applicable"
    assert row["overridden_at"] == T0 - timedelta(hours=1)
    assert row["patient_hash"] == store.patient_hash(PATIENT) != PATIENT
    assert row["client"] == CLIENT
    overridden = partial(store.overridden_concerns, client=CLIENT)
    assert overridden("icaht-patient-view", PATIENT) == {CONCERN}
    assert overridden("icaht-patient-view", "another-patient") == frozenset()
    assert overridden("icaht-order-sign", PATIENT) == frozenset()
    # `since`: only overrides made after it count (the configured period)
    assert overridden("icaht-patient-view", PATIENT, since=T0 - timedelta(hours=2)) == {CONCERN}
    assert overridden("icaht-patient-view", PATIENT, since=T0) == frozenset()


def test_only_overrides_of_alert_cards_are_recorded(store: Store) -> None:
    alert, status = (str(uuid.uuid4()) for _ in range(2))
    store.record_audit(alert_shown(alert), audit(status, rule_ids=()))  # status: no concern
    store.record_feedback(
        feedback(alert, outcome="accepted", override_reason_code=None), feedback(status)
    )
    assert store.counts()["feedback"] == 2
    assert store.override_rows() == []
    assert store.overridden_concerns("icaht-patient-view", PATIENT, client=CLIENT) == frozenset()


def test_an_override_never_starts_later_than_it_was_received(
    open_store: Callable[..., Store],
) -> None:
    store = open_store(clock=Clock())  # receives at T0
    store.migrate()
    card = str(uuid.uuid4())
    store.record_audit(alert_shown(card))
    store.record_feedback(feedback(card, outcome_timestamp=T0 + timedelta(days=30)))
    (row,) = store.override_rows()
    assert row["overridden_at"] == T0  # the store's clock: an EHR clock ahead gains nothing


def test_withheld_cards_and_concern_keys_round_trip_in_the_audit(store: Store) -> None:
    shown, withheld = str(uuid.uuid4()), str(uuid.uuid4())
    store.record_audit(alert_shown(shown), alert_shown(withheld, withheld=True))
    rows = {row["card_uuid"]: row for row in store.audit_rows()}
    assert (rows[shown]["withheld"], rows[shown]["concern_key"]) == (False, CONCERN)
    assert (rows[withheld]["withheld"], rows[withheld]["concern_key"]) == (True, CONCERN)


def test_upgrade_from_revision_0001_keeps_the_audit_rows(
    engine_name: str, open_store: Callable[..., Store]
) -> None:
    store = open_store(clock=Clock())
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with store.engine.connect() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0001")
        connection.commit()
    created = T0.replace(tzinfo=None) if engine_name == "sqlite" else T0
    with store.engine.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO audit (created_at, hook_instance, service_id, hook, card_uuid, "
                "rule_ids, rules_version, timings_ms) VALUES (:created, 'h-1', "
                "'icaht-patient-view', 'patient-view', 'card-1', '[\"M03\"]', 'v1', '{}')"
            ),
            {"created": created},
        )
    assert not store.schema_is_current()
    store.migrate()
    (row,) = store.audit_rows("card-1")
    assert (row["withheld"], row["concern_key"], row["rule_ids"]) == (False, None, ["M03"])
    with pytest.raises(CardNotIssuedError):  # an old row was issued to no client (0017)
        store.record_feedback(feedback("card-1"))
    assert store.counts()["feedback"] == 0 and store.override_rows() == []


# ---------------------------------------------------------------- finding 7 (decision 0017)


def test_finding7_feedback_is_stored_only_for_cards_issued_to_that_client(store: Store) -> None:
    """Issue 13 finding 7: an entry on a card this service did not issue to the caller (never
    shown, shown to another client, shown by another service, only withheld) is refused, and
    the whole request with it: nothing is stored, no override recorded."""
    mine, theirs, order_sign, withheld = (str(uuid.uuid4()) for _ in range(4))
    store.record_audit(
        alert_shown(mine),
        alert_shown(theirs, client=OTHER_CLIENT),
        alert_shown(order_sign, service_id="icaht-order-sign", hook="order-sign"),
        alert_shown(withheld, withheld=True),
    )
    never_shown = str(uuid.uuid4())
    for card in (theirs, order_sign, withheld, never_shown):
        with pytest.raises(CardNotIssuedError) as refused:
            store.record_feedback(feedback(mine), feedback(card))
        assert refused.value.indexes == (1,)
    with pytest.raises(CardNotIssuedError) as refused:
        store.record_feedback(feedback(theirs), feedback(mine), feedback(never_shown))
    assert refused.value.indexes == (0, 2)
    assert store.counts()["feedback"] == 0 and store.override_rows() == []

    store.record_feedback(feedback(mine))  # the client's own card
    assert store.counts()["feedback"] == 1
    assert store.overridden_concerns("icaht-patient-view", PATIENT, client=CLIENT) == {CONCERN}


def test_finding7_overrides_are_keyed_by_client(store: Store) -> None:
    """The same card (same content: same uuid) shown to two clients for the same patient id;
    the other client's override withholds it from the other client only."""
    card = str(uuid.uuid4())
    store.record_audit(alert_shown(card), alert_shown(card, client=OTHER_CLIENT))
    store.record_feedback(feedback(card, client=OTHER_CLIENT))
    (row,) = store.override_rows()
    assert row["client"] == OTHER_CLIENT
    overridden = partial(store.overridden_concerns, "icaht-patient-view", PATIENT)
    assert overridden(client=OTHER_CLIENT) == {CONCERN}
    assert overridden(client=CLIENT) == frozenset()
    assert overridden(client=ANONYMOUS_CLIENT) == frozenset()


def test_finding7_upgrade_from_revision_0002_keeps_rows_and_credits_them_to_no_client(
    engine_name: str, open_store: Callable[..., Store]
) -> None:
    """Rows written before revision 0003 are kept, with the client '' that no caller has:
    their cards take no more feedback, their overrides withhold nothing (decision 0017)."""
    store = open_store(clock=Clock())
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with store.engine.connect() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0002")
        connection.commit()
    created = T0.replace(tzinfo=None) if engine_name == "sqlite" else T0
    values = {"created": created, "patient": store.patient_hash(PATIENT), "concern": CONCERN}
    with store.engine.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO audit (created_at, hook_instance, service_id, hook, card_uuid, "
                "patient_hash, rule_ids, rules_version, timings_ms, concern_key) VALUES "
                "(:created, 'h-1', 'icaht-patient-view', 'patient-view', 'card-1', :patient, "
                "'[\"M03\"]', 'v1', '{}', :concern)"
            ),
            values,
        )
        connection.execute(
            sa.text(
                "INSERT INTO card_override (service_id, patient_hash, rule_id, concern_key, "
                "card_uuid, feedback_id, overridden_at, reason_code) VALUES "
                "('icaht-patient-view', :patient, 'M03', :concern, 'card-1', 7, :created, 'x')"
            ),
            values,
        )
    assert not store.schema_is_current()
    store.migrate()
    assert store.schema_is_current()
    (row,) = store.audit_rows("card-1")
    assert (row["client"], row["concern_key"], row["rule_ids"]) == ("", CONCERN, ["M03"])
    assert row["patient_hash"] == store.patient_hash(PATIENT)
    (override_row,) = store.override_rows()
    assert (override_row["client"], override_row["feedback_id"]) == ("", 7)
    for client in (CLIENT, ANONYMOUS_CLIENT):
        assert store.overridden_concerns("icaht-patient-view", PATIENT, client=client) == set()
        with pytest.raises(CardNotIssuedError):
            store.record_feedback(feedback("card-1", client=client))
    assert store.counts()["feedback"] == 0


# ---------------------------------------------------------------- SQLite lock waits under gevent

GEVENT_WRITER = """
from gevent import monkey; monkey.patch_all()
import sys, gevent
from datetime import UTC, datetime, timedelta
from cds_service.store import AuditRecord, Store
store = Store(sys.argv[1], audit_key=b"x" * 32)
later = datetime.now(UTC) + timedelta(minutes=5)
def call(jti):
    won = store.claim("https://ehr.example.org", jti, later)
    store.record_audit(AuditRecord("h", "svc", "patient-view", "v1", jti, client="c"))
    return jti if won else None
calls = [gevent.spawn(call, f"jti-{n}") for n in range(40)]
gevent.joinall(calls, raise_error=True)
print(" ".join(c.value for c in calls if c.value))
"""


def test_gevent_worker_processes_racing_for_the_same_tokens_have_one_winner_each(
    open_store: Callable[..., Store], store_url: str
) -> None:
    """Four gevent-patched processes (the gunicorn workers), 40 greenlets each, all claiming the
    same 40 tokens: the primary key still decides, each token is won exactly once and every
    audit row is stored (on SQLite through the workers' polling lock waits)."""
    open_store().migrate()
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", GEVENT_WRITER, store_url],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(4)
    ]
    outcomes = [(*w.communicate(timeout=120), w.returncode) for w in writers]
    assert [err.decode() for _, err, code in outcomes if code != 0] == []
    winners = [jti for out, _, _ in outcomes for jti in out.decode().split()]
    assert sorted(winners) == sorted(f"jti-{n}" for n in range(40))
    assert open_store().counts()["audit"] == 160


GEVENT_WAITER = """
from gevent import monkey; monkey.patch_all()
import sys
from datetime import UTC, datetime, timedelta
from cds_service.store import Store
store = Store(sys.argv[1], audit_key=b"x" * 32)
print("ready", flush=True)
won = store.claim("https://ehr.example.org", "jti-1", datetime.now(UTC) + timedelta(minutes=5))
with store.engine.connect() as connection:
    timeout = connection.exec_driver_sql("PRAGMA busy_timeout").scalar()
print(won, timeout)
"""


def test_under_gevent_a_writer_waiting_for_the_lock_claims_once_it_is_released(
    tmp_path: Path,
) -> None:
    """A gevent worker's claim while another process holds the write lock: it waits (polling),
    then wins when the lock is released, and its connection keeps the 30 s busy timeout."""
    path = tmp_path / "store.sqlite3"
    Store(f"sqlite:///{path}", audit_key=AUDIT_KEY).migrate()
    with _locked_by_another_writer(path):
        waiter = subprocess.Popen(
            [sys.executable, "-c", GEVENT_WAITER, f"sqlite:///{path}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert waiter.stdout is not None
        assert waiter.stdout.readline() == b"ready\n"
        time.sleep(0.2)  # only so that the claim is likely waiting when the lock is released
    out, err = waiter.communicate(timeout=120)
    assert waiter.returncode == 0, err.decode()
    assert out.decode().split() == ["True", "30000"]


@dataclass
class FakeWait:
    """The clock and sleep of `engine.LockWait`: sleeping moves the clock, nothing waits."""

    now: float = 1000.0
    slept: list[float] | None = None

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert self.slept is not None
        self.slept.append(seconds)
        self.now += seconds


@contextmanager
def _locked_by_another_writer(path: Path) -> Iterator[None]:
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_a_yielding_lock_wait_gives_up_at_the_same_limit_with_the_same_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cds_service.store import engine  # noqa: PLC0415

    path = tmp_path / "store.sqlite3"
    Store(f"sqlite:///{path}", audit_key=AUDIT_KEY).migrate()
    # what a plain busy timeout gives at its limit (shortened to 0 s here)
    monkeypatch.setattr(engine, "BUSY_TIMEOUT_SECONDS", 0)
    plain = Store(f"sqlite:///{path}", audit_key=AUDIT_KEY)
    monkeypatch.undo()
    wait = FakeWait(slept=[])
    monkeypatch.setattr(engine, "_gevent_patched", lambda: True)
    monkeypatch.setattr(engine.LockWait, "clock", wait.clock)
    monkeypatch.setattr(engine.LockWait, "sleep", wait.sleep)
    yielding = Store(f"sqlite:///{path}", audit_key=AUDIT_KEY)
    errors = []
    with _locked_by_another_writer(path):
        for store in (plain, yielding):
            with pytest.raises(sa.exc.OperationalError) as raised:
                store.claim("https://ehr.example.org", "jti-1", T0 + timedelta(days=1))
            errors.append(raised.value)
    assert str(errors[0].orig) == str(errors[1].orig) == "database is locked"
    assert type(errors[0]) is type(errors[1])
    assert errors[0].statement == errors[1].statement == "BEGIN IMMEDIATE"
    # it waited until the same limit, trying again at least every millisecond
    slept = wait.slept or []
    assert sum(slept) == pytest.approx(engine.BUSY_TIMEOUT_SECONDS)
    assert slept[:4] == [0.0001, 0.0002, 0.0005, 0.001]
    assert max(slept) == 0.001
    # the lock is free again: the same store claims, and its connections keep their timeout
    assert yielding.claim("https://ehr.example.org", "jti-1", T0 + timedelta(days=1))
    with yielding.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30_000
    plain.close()
    yielding.close()


def test_reads_go_on_while_another_process_holds_the_write_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The override read of a hook call, the readiness ping and the reports begin DEFERRED
    (issue 20): they neither wait for nor take SQLite's write lock. The busy timeout is cut to
    1 s so that a read that did wait for the lock fails here rather than after 30 s; a write
    in the same moment shows that the lock is really held."""
    from cds_service.store import engine  # noqa: PLC0415

    monkeypatch.setattr(engine, "BUSY_TIMEOUT_SECONDS", 1)
    path = tmp_path / "store.sqlite3"
    store = Store(f"sqlite:///{path}", audit_key=AUDIT_KEY)
    store.migrate()
    store.record_audit(audit("card-1"))
    with _locked_by_another_writer(path):
        assert store.ping()
        assert store.overridden_concerns("icaht-patient-view", PATIENT, client=CLIENT) == set()
        assert store.counts()["audit"] == 1
        assert [row["card_uuid"] for row in store.audit_rows()] == ["card-1"]
        with pytest.raises(sa.exc.OperationalError, match="database is locked"):
            store.claim(CLIENT, "jti-during-lock", T0 + timedelta(minutes=5))
    assert store.claim(CLIENT, "jti-during-lock", T0 + timedelta(minutes=5))
    store.close()


GEVENT_READER = """
from gevent import monkey; monkey.patch_all()
import sys
from cds_service.store import Store, engine
engine.BUSY_TIMEOUT_SECONDS = 1  # a read that waited for the lock fails in 1 s, not 30 s
store = Store(sys.argv[1], audit_key=b"x" * 32)
print(store.ping(), len(store.overridden_concerns("icaht-patient-view", "p", client="c")))
"""


def test_under_gevent_a_read_goes_on_while_another_process_holds_the_write_lock(
    tmp_path: Path,
) -> None:
    """The gevent workers' polling BEGIN (engine._begin_polling) also begins a read DEFERRED."""
    path = tmp_path / "store.sqlite3"
    Store(f"sqlite:///{path}", audit_key=AUDIT_KEY).migrate()
    with _locked_by_another_writer(path):
        reader = subprocess.run(
            [sys.executable, "-c", GEVENT_READER, f"sqlite:///{path}"],
            capture_output=True,
            timeout=120,
            check=False,
        )
    assert reader.returncode == 0, reader.stderr.decode()
    assert reader.stdout.decode().split() == ["True", "0"]
