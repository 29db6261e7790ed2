"""Inbox: the ids of the events a consumer has applied, written in the same transaction as the effect."""

from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy import Text, bindparam, cast, func, literal_column, select
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlmodel import Field, SQLModel, col
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.contracts.envelope import Event
from shared.platform.db import any_of


class InboxFields(SQLModel):
    event_id: UUID = Field(primary_key=True)
    event_type: str
    received_at: datetime = Field(default_factory=lambda: datetime.now(UTC))


async def first_delivery(session: AsyncSession, inbox_model: type[InboxFields], event: Event) -> bool:
    """Record the event; False when it was applied before (a redelivery must have no effect)."""
    stmt = (
        insert(inbox_model)
        .values(event_id=event.id, event_type=event.type, received_at=datetime.now(UTC))
        .on_conflict_do_nothing()
        .returning(col(inbox_model.event_id))
    )
    return (await session.execute(stmt)).first() is not None


async def first_deliveries(session: AsyncSession, inbox_model: type[InboxFields], events: list[Event]) -> set[UUID]:
    """Record many events in one statement; answer the ids not seen before. The ids and types go
    as two array parameters (`unnest`), not three parameters per event: one plan for any batch."""
    rows = (
        func.unnest(
            bindparam("ids", [e.id for e in events], type_=ARRAY(PG_UUID(as_uuid=True))),
            bindparam("types", [e.type for e in events], type_=ARRAY(Text)),
        )
        .table_valued("event_id", "event_type")
        .render_derived()
    )
    id_column = col(inbox_model.event_id)
    stmt = (
        insert(inbox_model)
        .from_select(
            ["event_id", "event_type", "received_at"],
            select(rows.c.event_id, rows.c.event_type, literal_column("now()")),
        )
        .on_conflict_do_nothing()
        .returning(id_column)
    )
    return set((await session.execute(stmt)).scalars().all())


async def already_applied(session: AsyncSession, inbox_model: type[InboxFields], ids: list[str]) -> set[str]:
    """Which of `ids` (as text: the `ce_id` headers of a batch, unparsed) the inbox has, as text:
    one primary-key read for a whole batch, one array parameter, PostgreSQL parsing and printing
    the UUIDs (in Python that was a quarter of a replay's CPU). A malformed id fails the read."""
    id_column = col(inbox_model.event_id)
    query = select(cast(id_column, Text)).where(any_of(id_column, ids, PG_UUID(as_uuid=False)))
    return set((await session.execute(query)).scalars().all())
