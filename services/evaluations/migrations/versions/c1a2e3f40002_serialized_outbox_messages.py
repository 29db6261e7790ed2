"""outbox rows hold the serialized Kafka message (headers + value)

Revision ID: c1a2e3f40002
Revises: b41d0c7e2f10
Create Date: 2026-11-27 02:50:00
"""

from collections.abc import Sequence

from shared.platform.outbox_migrations import serialize_outbox_messages, unserialize_outbox_messages

revision: str = "c1a2e3f40002"
down_revision: str | None = "b41d0c7e2f10"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    serialize_outbox_messages()


def downgrade() -> None:
    unserialize_outbox_messages()
