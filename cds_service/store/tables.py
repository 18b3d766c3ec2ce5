"""The store's tables (SQLAlchemy Core). The migrations in `migrations/versions/` create them;
this module is what the code queries. Change both together, with a new revision."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect


class UtcDateTime(sa.types.TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every engine (SQLite stores them as naive UTC text)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use timezone-aware UTC")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = sa.MetaData()

# BIGINT on PostgreSQL, INTEGER (the rowid alias) on SQLite
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

feedback = sa.Table(
    "feedback",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("service_id", sa.String(64), nullable=False),
    sa.Column("card_uuid", sa.String(64), nullable=False),
    sa.Column("hook_instance", sa.String(64)),
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Column("override_reason_code", sa.String(256)),
    sa.Column("override_reason_system", sa.String(512)),
    sa.Column("override_reason_display", sa.String(512)),
    sa.Column("user_comment", sa.Text()),
    sa.Column("accepted_suggestions", sa.JSON(), nullable=False),
    sa.Column("outcome_timestamp", UtcDateTime(), nullable=False),
    sa.Column("received_at", UtcDateTime(), nullable=False),
    sa.Column("rules_version", sa.String(64)),
)

audit = sa.Table(
    "audit",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("hook_instance", sa.String(64), nullable=False),
    sa.Column("service_id", sa.String(64), nullable=False),
    sa.Column("hook", sa.String(64), nullable=False),
    sa.Column("card_uuid", sa.String(64)),
    sa.Column("patient_hash", sa.String(64)),
    sa.Column("rule_ids", sa.JSON(), nullable=False),
    sa.Column("early_grade", sa.String(32)),
    sa.Column("late_grade", sa.String(32)),
    sa.Column("rules_version", sa.String(64), nullable=False),
    sa.Column("timings_ms", sa.JSON(), nullable=False),
    # revision 0002: the alert's concern key, and cards withheld after an override (0007)
    sa.Column("concern_key", sa.String(64)),
    sa.Column("withheld", sa.Boolean(), nullable=False, server_default=sa.false()),
    # revision 0003: the client (JWT issuer) the card was issued to; '' before it (0017)
    sa.Column("client", sa.String(2048), nullable=False, server_default=""),
)

# revision 0002: one row per 'overridden' feedback on an alert card the audit knows (0007)
card_override = sa.Table(
    "card_override",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("service_id", sa.String(64), nullable=False),
    sa.Column("patient_hash", sa.String(64), nullable=False),
    sa.Column("rule_id", sa.String(16), nullable=False),
    sa.Column("concern_key", sa.String(64), nullable=False),
    sa.Column("card_uuid", sa.String(64), nullable=False),
    sa.Column("feedback_id", BigId, nullable=False),
    sa.Column("overridden_at", UtcDateTime(), nullable=False),
    sa.Column("reason_code", sa.String(256)),
    # revision 0003: the client whose clinician overrode; only its calls withhold (0017)
    sa.Column("client", sa.String(2048), nullable=False, server_default=""),
)

replay_cache = sa.Table(
    "replay_cache",
    metadata,
    sa.Column("iss", sa.String(2048), primary_key=True),
    sa.Column("jti", sa.String(256), primary_key=True),
    sa.Column("expires_at", UtcDateTime(), nullable=False),
)

sa.Index("ix_feedback_card_uuid", feedback.c.card_uuid)
sa.Index("ix_feedback_received_at", feedback.c.received_at)
sa.Index("ix_audit_card_uuid", audit.c.card_uuid)
sa.Index("ix_audit_hook_instance", audit.c.hook_instance)
sa.Index("ix_audit_created_at", audit.c.created_at)
sa.Index("ix_replay_cache_expires_at", replay_cache.c.expires_at)
sa.Index(
    "ix_card_override_patient",
    card_override.c.service_id,
    card_override.c.patient_hash,
    card_override.c.overridden_at,
)
