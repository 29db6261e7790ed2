"""a history entry that added evidence names it (so readers who may not see private evidence
are shown only the entries of the evidence they may see)

Revision ID: f4d8a2c6e901
Revises: a7c3e9f10002
Create Date: 2026-11-28 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "f4d8a2c6e901"
down_revision: str | None = "a7c3e9f10002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("followup_history", sa.Column("evidence_id", sa.Uuid(), nullable=True))
    # The entries written before: their evidence is the follow-up's item of the same title (the entry
    # recorded the title), added nearest in time (the item and its entry were written by one
    # request); at a tie, the private one, so that the entry stays hidden from who may not see it.
    op.execute(
        """
        UPDATE followup_history AS h SET evidence_id = (
            SELECT e.id FROM evidence AS e
            WHERE e.followup_id = h.followup_id AND e.title = h.new
            ORDER BY abs(extract(epoch FROM e.added_at - h.at)), e.public LIMIT 1
        )
        WHERE h.field = 'evidence'
        """
    )


def downgrade() -> None:
    op.drop_column("followup_history", "evidence_id")
