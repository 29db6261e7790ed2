"""subscriptions filter by cluster too (inter-cluster link events)

Revision ID: f2a8c4d60e33
Revises: c1a2e3f40003
Create Date: 2026-11-27 11:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "f2a8c4d60e33"
down_revision: str | None = "c1a2e3f40003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("subscription", sa.Column("clusters", sa.JSON(), nullable=False, server_default="[]"))


def downgrade() -> None:
    op.drop_column("subscription", "clusters")
