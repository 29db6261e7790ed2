"""follow-up history says how a change came (e.g. imported from a spreadsheet)

Revision ID: d2b7f1a0c302
Revises: e7f3b9a10c22
Create Date: 2026-11-27 11:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "d2b7f1a0c302"
down_revision: str | None = "e7f3b9a10c22"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("followup_history", sa.Column("via", sqlmodel.sql.sqltypes.AutoString(length=60), nullable=True))


def downgrade() -> None:
    op.drop_column("followup_history", "via")
