"""every insert into the outbox notifies the relays (LISTEN clusnet_outbox)

Revision ID: a7c3e9f10002
Revises: e5f1a9b3c004
Create Date: 2026-11-27 14:00:00
"""

from collections.abc import Sequence

from shared.platform.outbox_migrations import drop_outbox_notify, notify_on_outbox_insert

revision: str = "a7c3e9f10002"
down_revision: str | None = "e5f1a9b3c004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    notify_on_outbox_insert()


def downgrade() -> None:
    drop_outbox_notify()
