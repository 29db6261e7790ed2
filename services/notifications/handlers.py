"""The consumer's effect: one delivery per matching subscription, in the inbox transaction.

The (subscription, event) unique key backs up the inbox: even an event that somehow arrived
twice cannot create a second delivery.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy.dialects.postgresql import insert
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.notifications import rules
from services.notifications.models import Delivery, DeliveryStatus, Mode, Subscription
from shared.contracts.envelope import Event


async def create_deliveries(session: AsyncSession, event: Event) -> int:
    summary = rules.summarize(event)
    if (subscriptions := session.info.get("subscriptions")) is None:  # once per transaction (batch), not per event
        subscriptions = session.info["subscriptions"] = (
            await session.exec(select(Subscription).where(Subscription.active == True))
        ).all()
    created = 0
    now = datetime.now(UTC)
    for sub in subscriptions:
        if not rules.matches(
            summary,
            event_types=sub.event_types,
            cities=sub.cities,
            seminars=[str(s) for s in sub.seminars],
            dimensions=sub.dimensions,
            overdue_only=sub.overdue_only,
        ):
            continue
        digest = sub.mode == Mode.digest
        stmt = insert(Delivery).values(
            id=uuid.uuid4(),
            subscription_id=sub.id,
            stakeholder_id=sub.stakeholder_id,
            channel=sub.channel,
            event_id=event.id,
            event_type=event.type,
            event=event.model_dump(mode="json"),
            attempts=0,
            created_at=now,
            status=DeliveryStatus.digest_pending if digest else DeliveryStatus.pending,
            next_attempt_at=None if digest else now,
        )
        result = await session.execute(stmt.on_conflict_do_nothing().returning(Delivery.id))  # type: ignore[arg-type]
        created += result.first() is not None
    return created
