"""Initial schema: feedback, audit, replay_cache.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
UTC_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "feedback",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("service_id", sa.String(64), nullable=False),
        sa.Column("card_uuid", sa.String(64), nullable=False),
        sa.Column("hook_instance", sa.String(64)),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("override_reason_code", sa.String(256)),
        sa.Column("override_reason_system", sa.String(512)),
        sa.Column("override_reason_display", sa.String(512)),
        sa.Column("user_comment", sa.Text()),
        sa.Column("accepted_suggestions", sa.JSON(), nullable=False),
        sa.Column("outcome_timestamp", UTC_TIME, nullable=False),
        sa.Column("received_at", UTC_TIME, nullable=False),
        sa.Column("rules_version", sa.String(64)),
        sa.CheckConstraint("outcome IN ('accepted', 'overridden')", name="ck_feedback_outcome"),
    )
    op.create_index("ix_feedback_card_uuid", "feedback", ["card_uuid"])
    op.create_index("ix_feedback_received_at", "feedback", ["received_at"])

    op.create_table(
        "audit",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("created_at", UTC_TIME, nullable=False),
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
    )
    op.create_index("ix_audit_card_uuid", "audit", ["card_uuid"])
    op.create_index("ix_audit_hook_instance", "audit", ["hook_instance"])
    op.create_index("ix_audit_created_at", "audit", ["created_at"])

    op.create_table(
        "replay_cache",
        sa.Column("iss", sa.String(2048), nullable=False),
        sa.Column("jti", sa.String(256), nullable=False),
        sa.Column("expires_at", UTC_TIME, nullable=False),
        sa.PrimaryKeyConstraint("iss", "jti", name="pk_replay_cache"),
    )
    op.create_index("ix_replay_cache_expires_at", "replay_cache", ["expires_at"])


def downgrade() -> None:
    op.drop_table("replay_cache")
    op.drop_table("audit")
    op.drop_table("feedback")
