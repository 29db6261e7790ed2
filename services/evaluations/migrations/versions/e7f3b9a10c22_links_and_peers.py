"""link evidence (cluster_link_evidence, cluster_link_answer) and the replica's tags and related_ids

Revision ID: e7f3b9a10c22
Revises: c1a2e3f40002
Create Date: 2026-11-27 11:55:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "e7f3b9a10c22"
down_revision: str | None = "c1a2e3f40002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LINK_KIND = sa.Enum("joint_project", "staff_exchange", "cooperation_agreement", "study_visit", "other", name="clusterlinkkind")
LINK_STATUS = sa.Enum("proposed", "established", "active", "ended", "cancelled", name="clusterlinkstatus")


def upgrade() -> None:
    # Replicas written before this step get their tags and related_ids with their next event.
    op.add_column("recommendation_replica", sa.Column("tags", sa.JSON(), nullable=False, server_default="[]"))
    op.add_column("recommendation_replica", sa.Column("related_ids", sa.JSON(), nullable=False, server_default="[]"))
    op.create_table(
        "cluster_link_evidence",
        sa.Column("link_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", LINK_STATUS, nullable=False),
        sa.Column("kind", LINK_KIND, nullable=False),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("public", sa.Boolean(), nullable=False),
        sa.Column("first_seen", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("link_id"),
    )
    op.create_table(
        "cluster_link_answer",
        sa.Column("link_id", sa.Uuid(), nullable=False),
        sa.Column("recommendation_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(["link_id"], ["cluster_link_evidence.link_id"], deferrable=True, initially="DEFERRED"),
        sa.PrimaryKeyConstraint("link_id", "recommendation_id"),
    )
    op.create_index(op.f("ix_cluster_link_answer_recommendation_id"), "cluster_link_answer", ["recommendation_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_cluster_link_answer_recommendation_id"), table_name="cluster_link_answer")
    op.drop_table("cluster_link_answer")
    op.drop_table("cluster_link_evidence")
    LINK_STATUS.drop(op.get_bind(), checkfirst=True)
    LINK_KIND.drop(op.get_bind(), checkfirst=True)
    op.drop_column("recommendation_replica", "related_ids")
    op.drop_column("recommendation_replica", "tags")
