"""token person: the person a portal session's token acts for

Revision ID: 6a7b8c9d0e12
Revises: 5e0d1c2a7b31
Create Date: 2026-11-27 11:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "6a7b8c9d0e12"
down_revision: str | None = "5e0d1c2a7b31"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("api_token", sa.Column("person_email", sqlmodel.sql.sqltypes.AutoString(length=254), nullable=True))


def downgrade() -> None:
    op.drop_column("api_token", "person_email")
