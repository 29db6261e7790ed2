"""unsubscribe tokens: each subscription's one-click unsubscribe capability (RFC 8058)

Revision ID: f2b7c1d9e005
Revises: f2a8c4d60e33
Create Date: 2026-11-27 11:45:00
"""

import secrets
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "f2b7c1d9e005"
down_revision: str | None = "f2a8c4d60e33"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("subscription", sa.Column("unsubscribe_token", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
    connection = op.get_bind()
    ids = [row[0] for row in connection.execute(sa.text("SELECT id FROM subscription"))]
    for subscription_id in ids:  # a random capability each, as new rows get (not derivable from the id)
        connection.execute(
            sa.text("UPDATE subscription SET unsubscribe_token = :token WHERE id = :id"),
            {"token": secrets.token_urlsafe(24), "id": subscription_id},
        )
    op.alter_column("subscription", "unsubscribe_token", nullable=False)
    op.create_index(op.f("ix_subscription_unsubscribe_token"), "subscription", ["unsubscribe_token"], unique=True)


def downgrade() -> None:
    op.drop_index(op.f("ix_subscription_unsubscribe_token"), table_name="subscription")
    op.drop_column("subscription", "unsubscribe_token")
