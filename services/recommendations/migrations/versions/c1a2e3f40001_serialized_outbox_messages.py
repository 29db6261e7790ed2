"""outbox rows hold the serialized Kafka message (headers + value)

Revision ID: c1a2e3f40001
Revises: eb6c96fbb6dc
Create Date: 2026-11-27 02:50:00
"""

from collections.abc import Sequence

from shared.platform.outbox_migrations import serialize_outbox_messages, unserialize_outbox_messages

revision: str = "c1a2e3f40001"
down_revision: str | None = "eb6c96fbb6dc"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    serialize_outbox_messages()


def downgrade() -> None:
    unserialize_outbox_messages()
