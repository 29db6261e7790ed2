"""inter-cluster links: cluster_link and its members

Revision ID: d4e1a7c20b11
Revises: c1a2e3f40001
Create Date: 2026-11-27 11:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "d4e1a7c20b11"
down_revision: str | None = "c1a2e3f40001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LINK_KIND = sa.Enum("joint_project", "staff_exchange", "cooperation_agreement", "study_visit", "other", name="clusterlinkkind")
LINK_STATUS = sa.Enum("proposed", "established", "active", "ended", "cancelled", name="clusterlinkstatus")


def upgrade() -> None:
    op.create_table(
        "cluster_link",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("kind", LINK_KIND, nullable=False),
        sa.Column("description", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("status", LINK_STATUS, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=True),
        sa.Column("ends_on", sa.Date(), nullable=True),
        sa.Column("public", sa.Boolean(), nullable=False),
        sa.Column("recommendation_ids", sa.JSON(), nullable=False),
        sa.Column("staff_person", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("staff_home_city", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("staff_learned", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("status_reason", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("created_by", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["staff_home_city"], ["partner.slug"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_cluster_link_kind"), "cluster_link", ["kind"], unique=False)
    op.create_index(op.f("ix_cluster_link_status"), "cluster_link", ["status"], unique=False)
    op.create_table(
        "cluster_link_member",
        sa.Column("link_id", sa.Uuid(), nullable=False),
        sa.Column("cluster", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["cluster"], ["cluster.slug"]),
        sa.ForeignKeyConstraint(["link_id"], ["cluster_link.id"]),
        sa.PrimaryKeyConstraint("link_id", "cluster"),
    )
    op.create_index(op.f("ix_cluster_link_member_cluster"), "cluster_link_member", ["cluster"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_cluster_link_member_cluster"), table_name="cluster_link_member")
    op.drop_table("cluster_link_member")
    op.drop_index(op.f("ix_cluster_link_status"), table_name="cluster_link")
    op.drop_index(op.f("ix_cluster_link_kind"), table_name="cluster_link")
    op.drop_table("cluster_link")
    LINK_STATUS.drop(op.get_bind(), checkfirst=True)
    LINK_KIND.drop(op.get_bind(), checkfirst=True)
