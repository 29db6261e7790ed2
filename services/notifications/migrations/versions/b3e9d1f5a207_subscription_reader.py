"""a person's own subscription remembers their role and city, which bound what it carries

Revision ID: b3e9d1f5a207
Revises: a7c3e9f10003
Create Date: 2026-11-28 09:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "b3e9d1f5a207"
down_revision: str | None = "a7c3e9f10003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("subscription", sa.Column("reader_role", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True))
    op.add_column("subscription", sa.Column("reader_city", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
    # Subscriptions a person made before: My notifications created their stakeholder with their
    # portal role and city, so the roles whose reading is bounded are known from it.
    op.execute(
        """
        UPDATE subscription AS s SET reader_role = st.role, reader_city = st.city
        FROM stakeholder AS st
        WHERE s.stakeholder_id = st.id AND s.channel = 'email' AND st.role IN ('city_official', 'integration')
        """
    )


def downgrade() -> None:
    op.drop_column("subscription", "reader_city")
    op.drop_column("subscription", "reader_role")
