"""The consumer's effect: one delivery per matching subscription, in the inbox transaction.

Every notifiable event type (`rules.NOTIFIABLE`, derived from the contract registry) is routed
to `create_deliveries`. The (subscription, event) unique key backs up the inbox: even an event
that somehow arrived twice cannot create a second delivery.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.notifications import rules
from services.notifications.models import Delivery, DeliveryStatus, Mode, Subscription
from shared.contracts.envelope import Event, Payload
from shared.platform.outbox import EventSink
from shared.platform.routing import Router


@dataclass
class DeliveryBatch:
    """One consumed batch: its transaction and the active subscriptions, loaded once for it."""

    session: AsyncSession
    subscriptions: Sequence[Subscription]

    @classmethod
    async def begin(cls, session: AsyncSession, _: EventSink, __: Sequence[Event]) -> DeliveryBatch:
        return cls(session, (await session.exec(select(Subscription).where(col(Subscription.active)))).all())


async def create_deliveries(batch: DeliveryBatch, _: Payload, event: Event) -> None:
    summary = rules.summarize(event)
    now = datetime.now(UTC)
    for sub in batch.subscriptions:
        if not rules.matches(
            summary,
            event_types=sub.event_types,
            cities=sub.cities,
            clusters=sub.clusters,
            seminars=[str(s) for s in sub.seminars],
            dimensions=[str(d) for d in sub.dimensions],
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
        await batch.session.execute(stmt.on_conflict_do_nothing())


router: Router[DeliveryBatch] = Router(DeliveryBatch.begin)
for notifiable in rules.NOTIFIABLE:
    router.add(notifiable, create_deliveries)
