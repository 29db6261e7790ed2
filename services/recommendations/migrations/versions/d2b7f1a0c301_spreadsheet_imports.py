"""spreadsheet imports: a draft's import key, and the import job table

Revision ID: d2b7f1a0c301
Revises: d4e1a7c20b11
Create Date: 2026-11-27 11:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "d2b7f1a0c301"
down_revision: str | None = "d4e1a7c20b11"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("recommendation", sa.Column("import_key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
    op.create_unique_constraint("uq_recommendation_seminar_import_key", "recommendation", ["seminar_id", "import_key"])
    op.create_table(
        "import_job",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("file", sa.LargeBinary(), nullable=False),
        sa.Column("actor_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("done", sa.Integer(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("error", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("heartbeat_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("finished_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_import_job_status"), "import_job", ["status"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_import_job_status"), table_name="import_job")
    op.drop_table("import_job")
    op.drop_constraint("uq_recommendation_seminar_import_key", "recommendation", type_="unique")
    op.drop_column("recommendation", "import_key")
