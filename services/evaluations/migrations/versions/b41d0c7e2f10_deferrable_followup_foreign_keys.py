"""deferrable foreign keys from follow-ups to replicas and from history to follow-ups

The consumer applies a batch of events in one transaction and flushes its inserts together at
the commit; deferred foreign keys are checked then, whatever order the inserts went out in.

Revision ID: b41d0c7e2f10
Revises: 9e56d9a92d98
Create Date: 2026-11-27 02:10:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "b41d0c7e2f10"
down_revision: str | None = "9e56d9a92d98"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CONSTRAINTS = [("followup", "followup_recommendation_id_fkey"), ("followup_history", "followup_history_followup_id_fkey")]


def upgrade() -> None:
    for table, name in CONSTRAINTS:
        op.execute(f"ALTER TABLE {table} ALTER CONSTRAINT {name} DEFERRABLE INITIALLY DEFERRED")


def downgrade() -> None:
    for table, name in CONSTRAINTS:
        op.execute(f"ALTER TABLE {table} ALTER CONSTRAINT {name} NOT DEFERRABLE")
