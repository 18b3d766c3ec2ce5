"""The feedback, audit and replay-cache store (SQLAlchemy 2.x Core, Alembic migrations).

One `Store` per process is enough: it owns a pooled engine and is safe to share between threads.
Several processes (gunicorn workers) and replicas may use the same database at once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from cds_service.store import schema, tables
from cds_service.store.audit_key import patient_hash, resolve_audit_key
from cds_service.store.engine import (
    commits_unsynced,
    create_store_engine,
    reading,
    sync_wal,
    writing_unsynced,
)
from cds_service.store.records import AuditRecord, FeedbackRecord
from cds_service.store.schema import MIGRATIONS  # noqa: F401 (tests import it from here)

log = logging.getLogger("cds_service.store")

TABLES = {
    "feedback": tables.feedback,
    "audit": tables.audit,
    "replay_cache": tables.replay_cache,
    "card_override": tables.card_override,
}


# the override read of every hook call that shows an alert card, built once with bound values:
# building the select (columns, `in_`, comparisons) cost more CPU than running it (issue 20)
_OVERRIDDEN = (
    sa.select(tables.card_override.c.concern_key)
    .where(
        tables.card_override.c.service_id.in_(sa.bindparam("services", expanding=True)),
        tables.card_override.c.patient_hash == sa.bindparam("patient_hash"),
        tables.card_override.c.client == sa.bindparam("client"),
    )
    .distinct()
)
_OVERRIDDEN_SINCE = _OVERRIDDEN.where(tables.card_override.c.overridden_at > sa.bindparam("since"))


class Store:
    def __init__(
        self,
        url: str,
        *,
        audit_key: bytes | None = None,
        clock: Callable[[], datetime] | None = None,
        purge_interval_seconds: float = 60.0,
    ) -> None:
        """`url`: SQLAlchemy URL (sqlite:///path or postgresql+psycopg://...).

        `audit_key`: HMAC key for patient ids; by default from ICAHT_CDS_AUDIT_KEY (see
        audit_key.py). `purge_interval_seconds`: how often `claim` also deletes expired replay
        rows.
        """
        self.engine = create_store_engine(url)
        self._audit_key = audit_key if audit_key is not None else resolve_audit_key(url)
        self._clock = clock or (lambda: datetime.now(UTC))
        self._purge_interval = purge_interval_seconds
        self._last_purge: float | None = None
        self._purge_lock = threading.Lock()
        self._claim_insert = _insert_unless_present(self.engine.dialect.name, tables.replay_cache)
        # per thread (per greenlet in a gevent worker: one request at a time): whether this
        # thread committed a replay claim that no fsync has covered yet (`claims_to_disk`)
        self._unsynced = threading.local()

    # ------------------------------------------------------------------ schema and health

    def migrate(self) -> None:
        """Bring a schema that is behind to this release's newest revision; leave one at or
        beyond it alone (schema.py). Idempotent; safe to run concurrently."""
        schema.migrate(self.engine)

    def schema_status(self) -> schema.SchemaStatus:
        """Where the database stands against this release's migrations (for /readyz)."""
        return schema.schema_status(self.engine)

    def schema_is_current(self) -> bool:
        """True when the database is at exactly this release's newest migration."""
        return self.schema_status().state == "current"

    def ping(self) -> bool:
        """True when the database answers; False (and a log line) when it does not."""
        try:
            with reading(self.engine) as connection:
                connection.execute(sa.text("SELECT 1"))
        except SQLAlchemyError as error:
            log.warning("store ping failed: %s", type(error).__name__)
            return False
        return True

    def close(self) -> None:
        self.engine.dispose()

    # ------------------------------------------------------------------ writes

    def record_feedback(self, *records: FeedbackRecord) -> list[int]:
        """Store feedback entries in one transaction; returns their row ids.

        Only feedback on a card this service issued to the same client is stored: each entry
        needs an audit row of a card shown (not withheld) with its card uuid, service and
        client. Otherwise nothing of the request is stored and `CardNotIssuedError` names the
        entries (docs/decisions/0017): one client cannot act on another client's cards.

        A record without hook_instance or rules_version takes them from that audit row. An
        'overridden' entry on an alert card also records the override of the card's concern
        for that client (see `overridden_concerns`).
        """
        received_at = self._clock()
        ids: list[int] = []
        with self.engine.begin() as connection:
            origins = [_card_origin(connection, record) for record in records]
            refused = tuple(index for index, origin in enumerate(origins) if origin is None)
            if refused:
                raise CardNotIssuedError(refused)  # leaving the block rolls back: nothing stored
            for record, origin in zip(records, origins, strict=True):
                assert origin is not None
                row = _feedback_row(record, received_at, origin)
                result = connection.execute(tables.feedback.insert().values(**row))
                key = result.inserted_primary_key
                assert key is not None
                ids.append(int(key[0]))
                override = _override_row(record, origin, ids[-1], received_at)
                if override is not None:
                    connection.execute(tables.card_override.insert().values(**override))
        self._unsynced.claim = False  # the commit's fsync covered the WAL, the claim's too
        return ids

    def record_audit(self, *records: AuditRecord) -> None:
        """Store audit rows (one per card shown) in one transaction. Patient ids are hashed."""
        if not records:
            return
        created_at = self._clock()
        rows = [self._audit_row(record, created_at) for record in records]
        with self.engine.begin() as connection:
            connection.execute(tables.audit.insert(), rows)
        self._unsynced.claim = False  # the commit's fsync covered the WAL, the claim's too

    def claim(self, iss: str, jti: str, expires_at: datetime) -> bool:
        """ReplayCache: record (iss, jti) until `expires_at`; False when already recorded.

        The primary key (iss, jti) decides, so two workers or replicas racing with the same
        token cannot both win. A row whose time has passed may be claimed again.

        The claim is committed, and so seen by every worker, before this returns; on SQLite it
        reaches the disk with the next fsync of the WAL, which `claims_to_disk` makes sure of
        before the answer leaves (decision 0035, third amendment).
        """
        self._maybe_purge()
        row = {"iss": iss, "jti": jti, "expires_at": expires_at}
        with writing_unsynced(self.engine) as connection:
            claimed = self._claim_row(connection, row)
        if claimed and commits_unsynced(self.engine):
            self._unsynced.claim = True
        return claimed

    def _claim_row(self, connection: sa.Connection, row: dict[str, Any]) -> bool:
        if self._claim_insert is not None:
            # one statement, no savepoint: a row already there inserts nothing (issue 20)
            if _inserted(connection.execute(self._claim_insert, row)):
                return True
            return _reclaim_expired(connection, row, self._clock())
        try:
            with connection.begin_nested():
                connection.execute(tables.replay_cache.insert().values(**row))
        except IntegrityError:
            return _reclaim_expired(connection, row, self._clock())
        return True

    def claims_to_disk(self) -> bool:
        """Make this thread's replay claims durable unless a commit since has (the audit rows of
        a hook call, the feedback entries): the app calls it before every answer, so that no
        answer leaves while the claim of its token could still be lost to a power cut. True
        when it had to fsync."""
        if not getattr(self._unsynced, "claim", False):
            return False
        sync_wal(self.engine)
        self._unsynced.claim = False
        return True

    def purge_expired_replays(self) -> int:
        """Delete replay-cache rows whose time has passed; returns how many."""
        table = tables.replay_cache
        with self.engine.begin() as connection:
            result = connection.execute(table.delete().where(table.c.expires_at <= self._clock()))
        return int(result.rowcount or 0)

    # ------------------------------------------------------------------ reads

    def overridden_concerns(
        self,
        service_ids: str | Sequence[str],
        patient_id: str,
        *,
        client: str,
        since: datetime | None = None,
    ) -> frozenset[str]:
        """Concern keys of this patient's alert cards overridden in these services (one id, or
        the services of one override scope: docs/decisions/0026) by this client's clinicians
        (after `since` when given: the configured period of an override). Another client's
        overrides do not count (docs/decisions/0017). One query, whatever the number of
        services."""
        services = [service_ids] if isinstance(service_ids, str) else list(service_ids)
        query = _OVERRIDDEN if since is None else _OVERRIDDEN_SINCE
        values: dict[str, Any] = {
            "services": services,
            "patient_hash": self.patient_hash(patient_id),
        }
        values |= {"client": client, "since": since}
        with reading(self.engine) as connection:
            return frozenset(connection.execute(query, values).scalars())

    def override_rows(self) -> list[dict[str, Any]]:
        return self._rows(tables.card_override, None)

    def counts(self) -> dict[str, int]:
        with reading(self.engine) as connection:
            return {
                name: int(
                    connection.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
                )
                for name, t in TABLES.items()
            }

    def feedback_rows(self, card_uuid: str | None = None) -> list[dict[str, Any]]:
        return self._rows(tables.feedback, card_uuid)

    def audit_rows(self, card_uuid: str | None = None) -> list[dict[str, Any]]:
        return self._rows(tables.audit, card_uuid)

    def patient_hash(self, patient_id: str) -> str:
        """The hash under which a patient's audit rows are stored (for an operator's search)."""
        return patient_hash(self._audit_key, patient_id)

    # ------------------------------------------------------------------ helpers

    def _rows(self, table: sa.Table, card_uuid: str | None) -> list[dict[str, Any]]:
        query = sa.select(table).order_by(table.c.id)
        if card_uuid is not None:
            query = query.where(table.c.card_uuid == card_uuid)
        with reading(self.engine) as connection:
            return [dict(row._mapping) for row in connection.execute(query)]

    def _audit_row(self, record: AuditRecord, created_at: datetime) -> dict[str, Any]:
        hashed = None if record.patient_id is None else self.patient_hash(record.patient_id)
        return {
            "created_at": created_at,
            "client": record.client,
            "hook_instance": record.hook_instance,
            "service_id": record.service_id,
            "hook": record.hook,
            "card_uuid": record.card_uuid,
            "patient_hash": hashed,
            "rule_ids": list(record.rule_ids),
            "early_grade": record.early_grade,
            "late_grade": record.late_grade,
            "rules_version": record.rules_version,
            "timings_ms": dict(record.timings_ms),
            "concern_key": record.concern_key,
            "withheld": record.withheld,
        }

    def _maybe_purge(self) -> None:
        now = self._clock().timestamp()
        with self._purge_lock:
            if self._last_purge is not None and now - self._last_purge < self._purge_interval:
                return
            self._last_purge = now
        self.purge_expired_replays()


class CardNotIssuedError(LookupError):
    """Feedback on cards this service did not issue to the calling client (docs/decisions/0017).

    `indexes`: the positions of the refused entries in the request. Unknown cards and cards of
    another client are not told apart, so the answer says nothing about other clients' cards.
    """

    def __init__(self, indexes: tuple[int, ...]) -> None:
        super().__init__(f"{len(indexes)} feedback entries on cards not issued to this client")
        self.indexes = indexes


def _card_origin(connection: sa.Connection, record: FeedbackRecord) -> Mapping[str, Any] | None:
    """The first audit row of the card as shown by this service to this client: where it was
    shown, for which patient and concern. None when this service never issued the card to this
    client: unknown, shown to another client or by another service, or only withheld."""
    audit = tables.audit
    query = (
        sa.select(
            audit.c.hook_instance,
            audit.c.rules_version,
            audit.c.service_id,
            audit.c.patient_hash,
            audit.c.rule_ids,
            audit.c.concern_key,
            audit.c.client,
        )
        .where(
            audit.c.card_uuid == record.card_uuid,
            audit.c.service_id == record.service_id,
            audit.c.client == record.client,
            audit.c.withheld == sa.false(),
        )
        .order_by(audit.c.id)
        .limit(1)
    )
    row = connection.execute(query).first()
    return dict(row._mapping) if row is not None else None


def _feedback_row(
    record: FeedbackRecord, received_at: datetime, origin: Mapping[str, Any]
) -> dict[str, Any]:
    return {
        "service_id": record.service_id,
        "card_uuid": record.card_uuid,
        "hook_instance": record.hook_instance or origin.get("hook_instance"),
        "outcome": record.outcome,
        "override_reason_code": record.override_reason_code,
        "override_reason_system": record.override_reason_system,
        "override_reason_display": record.override_reason_display,
        "user_comment": record.user_comment,
        "accepted_suggestions": list(record.accepted_suggestion_ids),
        "outcome_timestamp": record.outcome_timestamp,
        "received_at": received_at,
        "rules_version": record.rules_version or origin.get("rules_version"),
    }


def _override_row(
    record: FeedbackRecord, origin: Mapping[str, Any], feedback_id: int, received_at: datetime
) -> dict[str, Any] | None:
    """The override an 'overridden' feedback entry records, or None: other outcomes and cards
    without a concern (the status card). `origin` is the card's audit row for the same service
    and client (`_card_origin`)."""
    if record.outcome != "overridden" or not origin.get("concern_key"):
        return None
    if not origin.get("patient_hash"):
        return None
    rule_ids = origin.get("rule_ids") or [""]
    return {
        "service_id": record.service_id,
        "client": origin["client"],
        "patient_hash": origin["patient_hash"],
        "rule_id": str(rule_ids[0]),
        "concern_key": origin["concern_key"],
        "card_uuid": record.card_uuid,
        "feedback_id": feedback_id,
        # the EHR's clock may run ahead: an override never starts later than we received it
        "overridden_at": min(record.outcome_timestamp, received_at),
        "reason_code": record.override_reason_code,
    }


def _insert_unless_present(dialect: str, table: sa.Table) -> sa.Insert | None:
    """INSERT ... ON CONFLICT DO NOTHING for the two engines the store runs on (SQLite 3.24+,
    PostgreSQL 9.5+); None for another, which claims in a savepoint instead. SQLite's driver
    counts the inserted row; psycopg's count of an ON CONFLICT insert is -1 through SQLAlchemy,
    so on PostgreSQL the insert returns the row it inserted (none on a conflict)."""
    if dialect == "sqlite":
        return sqlite_insert(table).on_conflict_do_nothing()
    if dialect == "postgresql":
        return postgresql_insert(table).on_conflict_do_nothing().returning(table.c.jti)
    return None


def _inserted(result: sa.CursorResult[Any]) -> bool:
    if result.returns_rows:  # PostgreSQL: the inserted row, or none on a conflict
        return result.first() is not None
    return result.rowcount == 1


def _reclaim_expired(connection: sa.Connection, row: Mapping[str, Any], now: datetime) -> bool:
    table = tables.replay_cache
    result = connection.execute(
        table.update()
        .where(table.c.iss == row["iss"], table.c.jti == row["jti"], table.c.expires_at <= now)
        .values(expires_at=row["expires_at"])
    )
    return bool(result.rowcount == 1)
