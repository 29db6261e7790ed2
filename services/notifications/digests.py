"""Daily digests: one email per stakeholder per local day, at their hour, with everything that
matched since the last one; nothing when nothing happened."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from services.notifications import channels, mailer, repository, rules
from services.notifications.config import Settings
from services.notifications.models import DeliveryAttempt, DeliveryStatus, Stakeholder, Subscription
from shared.contracts.envelope import Event
from shared.platform.db import SessionFactory
from shared.platform.periodic import every
from shared.platform.runtime import Worker

log = logging.getLogger(__name__)


async def send_due_digests(sessions: SessionFactory, settings: Settings, now: datetime) -> int:
    """Send the digests due at `now`; answer how many were sent."""
    async with sessions() as session:
        waiting = await repository.stakeholders_with_digest_pending(session)
    sent = 0
    for stakeholder_id in waiting:
        async with sessions() as session:
            sent += await _send_one(session, settings, stakeholder_id, now)
    return sent


async def _send_one(session: AsyncSession, settings: Settings, stakeholder_id: uuid.UUID, now: datetime) -> int:
    stakeholder = await session.get(Stakeholder, stakeholder_id)
    assert stakeholder is not None
    local = now.astimezone(stakeholder.zone())
    if local.hour < stakeholder.digest_hour:
        return 0
    if not await repository.claim_digest_day(session, stakeholder.id, local.date(), now):
        await session.rollback()
        return 0  # today's digest went out already (or another instance is sending it)
    items = await repository.lock_digest_items(session, stakeholder.id, now)
    if not items:
        await session.rollback()
        return 0
    summaries = [rules.summarize(Event.model_validate(d.event)) for d in items]
    # One-click unsubscribe turns off one subscription: offered when the digest comes from exactly
    # one; a digest gathering several links to My notifications instead (no one-click header).
    subscription_ids = {d.subscription_id for d in items}
    only = await session.get(Subscription, next(iter(subscription_ids))) if len(subscription_ids) == 1 else None
    portal = settings.portal_url.rstrip("/")
    unsubscribe = channels.unsubscribe_url(settings, only) if only else None
    rendered = mailer.render(
        stakeholder.language,
        "digest",
        {"items": summaries, "name": stakeholder.name},
        link=portal + ("/" if only else "/settings/notifications"),
        unsubscribe_url=unsubscribe,
    )
    outcome = await channels.deliver_email(
        settings, stakeholder, rendered, f"digest_{stakeholder.id.hex}_{local.date()}", unsubscribe
    )
    if not outcome.ok:
        await session.rollback()  # the claim goes too: the next tick tries again
        log.warning("digest for %s failed: %s", stakeholder.id, outcome.error)
        return 0
    for delivery in items:
        delivery.status, delivery.delivered_at, delivery.attempts = DeliveryStatus.delivered, now, delivery.attempts + 1
        session.add(DeliveryAttempt(delivery_id=delivery.id, at=now, ok=True, duration_ms=outcome.duration_ms))
    await repository.set_digest_items(session, stakeholder.id, local.date(), len(items))
    await session.commit()
    return 1


def digest_worker(sessions: SessionFactory, settings: Settings) -> Worker:
    return every(settings.digest_interval_s, lambda: send_due_digests(sessions, settings, datetime.now(UTC)), "digest pass")
