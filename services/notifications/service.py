"""Use cases of the notifications service: stakeholders, subscriptions, the delivery log."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from services.notifications import repository, rules, targets
from services.notifications.models import (
    AttemptPublic,
    Channel,
    Delivery,
    DeliveryPublic,
    DeliveryStatus,
    Stakeholder,
    StakeholderCreate,
    Subscription,
    SubscriptionCreate,
    SubscriptionCreated,
)
from shared.platform.errors import Conflict, Invalid, NotFound


async def create_stakeholder(session: AsyncSession, data: StakeholderCreate) -> Stakeholder:
    stakeholder = Stakeholder.model_validate(data)
    session.add(stakeholder)
    await session.commit()
    return stakeholder


async def stakeholder_or_404(session: AsyncSession, stakeholder_id: uuid.UUID) -> Stakeholder:
    if (stakeholder := await session.get(Stakeholder, stakeholder_id)) is None:
        raise NotFound(f"stakeholder {stakeholder_id} does not exist")
    return stakeholder


async def subscribe(session: AsyncSession, data: SubscriptionCreate, *, allow_loopback: bool) -> SubscriptionCreated:
    if await session.get(Stakeholder, data.stakeholder_id) is None:
        raise Invalid(f"stakeholder_id {data.stakeholder_id} is not a stakeholder (create it with POST /stakeholders)")
    if data.url is not None:
        try:
            await targets.check(str(data.url), allow_loopback)
        except targets.UnsafeTarget as exc:
            raise Invalid(f"url: {exc}") from exc
    secret = rules.new_webhook_secret() if data.channel == Channel.webhook else None
    sub = Subscription.model_validate({**data.model_dump(mode="json"), "secret": secret})
    session.add(sub)
    await session.commit()
    # The secret is answered once, here; later reads never show it.
    return SubscriptionCreated.model_validate({**sub.model_dump(), "secret": secret})


async def subscription_or_404(session: AsyncSession, subscription_id: uuid.UUID) -> Subscription:
    if (sub := await session.get(Subscription, subscription_id)) is None:
        raise NotFound(f"subscription {subscription_id} does not exist")
    return sub


async def set_active(session: AsyncSession, subscription_id: uuid.UUID, active: bool) -> Subscription:
    sub = await subscription_or_404(session, subscription_id)
    sub.active, sub.disabled_reason = active, None if active else "disabled by an admin"
    await session.commit()
    return sub


async def delivery_view(session: AsyncSession, delivery: Delivery, with_attempts: bool = True) -> DeliveryPublic:
    log = (
        [AttemptPublic.model_validate(a, from_attributes=True) for a in await repository.attempts(session, delivery.id)]
        if with_attempts
        else []
    )
    return DeliveryPublic.model_validate({**delivery.model_dump(), "attempt_log": log})


async def delivery_or_404(session: AsyncSession, delivery_id: uuid.UUID, *, for_update: bool = False) -> Delivery:
    if (delivery := await session.get(Delivery, delivery_id, with_for_update=for_update)) is None:
        raise NotFound(f"delivery {delivery_id} does not exist")
    return delivery


async def retry(session: AsyncSession, delivery_id: uuid.UUID) -> Delivery:
    delivery = await delivery_or_404(session, delivery_id, for_update=True)
    if delivery.status != DeliveryStatus.dead:
        raise Conflict(f"only a dead delivery can be retried; this one is {delivery.status.value}")
    sub = await subscription_or_404(session, delivery.subscription_id)
    if not sub.active:
        raise Conflict(
            f"its subscription is disabled ({sub.disabled_reason}); re-enable it first (POST /subscriptions/{sub.id}/enable)"
        )
    delivery.status, delivery.next_attempt_at, delivery.attempts = DeliveryStatus.pending, datetime.now(UTC), 0
    await session.commit()
    return delivery
