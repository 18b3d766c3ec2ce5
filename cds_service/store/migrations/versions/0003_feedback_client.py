"""Cards and overrides belong to a client: audit.client and card_override.client.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-05

Rows written before this revision get the client '' (an empty string). No client can have it:
a configured issuer has at least one character (clients.schema.json) and the service without
authentication uses 'anonymous'. So feedback on a card shown before the upgrade is refused,
and an override recorded before it is no longer honoured (its card is shown once more), rather
than either being credited to a client we cannot name (docs/decisions/0017).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# as long as replay_cache.iss and clients.schema.json allow an issuer to be
CLIENT = sa.String(2048)


def upgrade() -> None:
    # the server default fills the rows already there; the code always writes a client
    with op.batch_alter_table("audit") as audit:
        audit.add_column(sa.Column("client", CLIENT, nullable=False, server_default=""))
    with op.batch_alter_table("card_override") as card_override:
        card_override.add_column(sa.Column("client", CLIENT, nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("card_override") as card_override:
        card_override.drop_column("client")
    with op.batch_alter_table("audit") as audit:
        audit.drop_column("client")
