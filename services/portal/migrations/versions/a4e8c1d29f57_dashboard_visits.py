"""portal: when each person last opened the dashboard ("changed since my last visit")

Revision ID: a4e8c1d29f57
Revises: e4b2c9a1f310
Create Date: 2026-11-27 12:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "a4e8c1d29f57"
down_revision: str | None = "e4b2c9a1f310"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "dashboard_visit",
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("seen_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("previous_seen_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("person_id"),
    )


def downgrade() -> None:
    op.drop_table("dashboard_visit")
