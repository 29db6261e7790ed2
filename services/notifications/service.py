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
    MySubscriptionCreate,
    MySubscriptions,
    Stakeholder,
    StakeholderCreate,
    Subscription,
    SubscriptionCreate,
    SubscriptionCreated,
    SubscriptionFilters,
    SubscriptionPublic,
)
from shared.platform.auth import Principal
from shared.platform.errors import Conflict, Forbidden, Invalid, NotFound


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


# --- a person's own email subscriptions (My notifications in the portal) --------------------
async def my_subscriptions(session: AsyncSession, principal: Principal) -> MySubscriptions:
    email = principal.require_person("manage their own notifications")
    stakeholder = await repository.stakeholder_by_email(session, email)
    if stakeholder is None:
        return MySubscriptions(language="en", items=[])
    items = await repository.email_subscriptions_of(session, stakeholder.id)
    return MySubscriptions(
        language=stakeholder.language, items=[SubscriptionPublic.model_validate(s, from_attributes=True) for s in items]
    )


async def subscribe_me(session: AsyncSession, principal: Principal, data: MySubscriptionCreate) -> Subscription:
    """Subscribe the signed-in person by email; their stakeholder is created on first use."""
    email = principal.require_person("manage their own notifications")
    stakeholder = await repository.stakeholder_by_email(session, email)
    if stakeholder is None:
        stakeholder = Stakeholder.model_validate(
            StakeholderCreate(
                name=data.name or email.split("@")[0],
                email=email,
                city=principal.city,
                role=principal.role.value,
                language=data.language or "en",
            )
        )
        session.add(stakeholder)
    elif data.language:
        stakeholder.language = data.language
    sub = Subscription.model_validate(
        {
            **data.model_dump(mode="json", include=set(SubscriptionFilters.model_fields) | {"mode"}),
            "stakeholder_id": stakeholder.id,
            "channel": Channel.email,
            "reader_role": principal.role.value,  # what they may read bounds what they receive
            "reader_city": principal.city,
        }
    )
    session.add(sub)
    await session.commit()
    return sub


async def set_my_subscription_active(
    session: AsyncSession, principal: Principal, subscription_id: uuid.UUID, active: bool
) -> Subscription:
    email = principal.require_person("manage their own notifications")
    sub = await subscription_or_404(session, subscription_id)
    stakeholder = await session.get(Stakeholder, sub.stakeholder_id)
    if stakeholder is None or stakeholder.email.lower() != email.lower():
        raise Forbidden("a person may change only their own subscriptions")
    sub.active, sub.disabled_reason = active, None if active else "turned off by its owner"
    await session.commit()
    return sub


async def unsubscribe(session: AsyncSession, token: str) -> Subscription:
    """One-click unsubscribe (RFC 8058): the token is the credential; it turns off its own
    subscription only, and doing it twice is harmless."""
    sub = await repository.subscription_by_unsubscribe_token(session, token)
    if sub is None:
        raise NotFound("this unsubscribe link is not valid (it may belong to a subscription that was removed)")
    if sub.active:
        sub.active, sub.disabled_reason = False, "unsubscribed from an email"
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
