"""Honoured overrides: table card_override; audit.concern_key and audit.withheld.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
UTC_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("audit") as audit:
        audit.add_column(sa.Column("concern_key", sa.String(64)))
        # existing rows were all shown: false for them, and the default for new ones
        audit.add_column(
            sa.Column("withheld", sa.Boolean(), nullable=False, server_default=sa.false())
        )

    op.create_table(
        "card_override",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("service_id", sa.String(64), nullable=False),
        sa.Column("patient_hash", sa.String(64), nullable=False),
        sa.Column("rule_id", sa.String(16), nullable=False),
        sa.Column("concern_key", sa.String(64), nullable=False),
        sa.Column("card_uuid", sa.String(64), nullable=False),
        sa.Column("feedback_id", BIG_ID, nullable=False),
        sa.Column("overridden_at", UTC_TIME, nullable=False),
        sa.Column("reason_code", sa.String(256)),
    )
    op.create_index(
        "ix_card_override_patient",
        "card_override",
        ["service_id", "patient_hash", "overridden_at"],
    )


def downgrade() -> None:
    op.drop_table("card_override")
    with op.batch_alter_table("audit") as audit:
        audit.drop_column("withheld")
        audit.drop_column("concern_key")
