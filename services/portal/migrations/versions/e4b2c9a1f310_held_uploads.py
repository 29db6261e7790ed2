"""portal: spreadsheets held between their preview and the person's confirm

Revision ID: e4b2c9a1f310
Revises: d7a1f0c3b201
Create Date: 2026-11-27 12:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "e4b2c9a1f310"
down_revision: str | None = "d7a1f0c3b201"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "held_upload",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("session_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("seminar_id", sa.Uuid(), nullable=True),
        sa.Column("file_name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("preview", sa.JSON(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_held_upload_session_id"), "held_upload", ["session_id"], unique=False)
    op.create_index(op.f("ix_held_upload_created_at"), "held_upload", ["created_at"], unique=False)


def downgrade() -> None:
    op.drop_table("held_upload")
