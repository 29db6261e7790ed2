"""Queries of the notifications service."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import Select

from services.notifications.models import (
    Channel,
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    DigestSent,
    Stakeholder,
    Subscription,
)
from shared.platform.pagination import PageParams


async def list_stakeholders(session: AsyncSession, page: PageParams, city: str | None) -> Sequence[Stakeholder]:
    query = select(Stakeholder).order_by(col(Stakeholder.created_at), col(Stakeholder.id))
    if city:
        query = query.where(Stakeholder.city == city)
    return (await session.exec(query.offset(page.offset).limit(page.limit + 1))).all()


async def list_subscriptions(session: AsyncSession, page: PageParams, stakeholder: uuid.UUID | None) -> Sequence[Subscription]:
    query = select(Subscription).order_by(col(Subscription.created_at), col(Subscription.id))
    if stakeholder:
        query = query.where(Subscription.stakeholder_id == stakeholder)
    return (await session.exec(query.offset(page.offset).limit(page.limit + 1))).all()


async def stakeholder_by_email(session: AsyncSession, email: str) -> Stakeholder | None:
    query = select(Stakeholder).where(func.lower(Stakeholder.email) == email.lower()).order_by(col(Stakeholder.created_at))
    return (await session.exec(query)).first()


async def email_subscriptions_of(session: AsyncSession, stakeholder_id: uuid.UUID) -> Sequence[Subscription]:
    query = (
        select(Subscription)
        .where(Subscription.stakeholder_id == stakeholder_id, Subscription.channel == Channel.email)
        .order_by(col(Subscription.created_at), col(Subscription.id))
    )
    return (await session.exec(query)).all()


async def subscription_by_unsubscribe_token(session: AsyncSession, token: str) -> Subscription | None:
    query = select(Subscription).where(Subscription.unsubscribe_token == token).with_for_update()
    return (await session.exec(query)).first()


@dataclass
class DeliveryFilter:
    status: DeliveryStatus | None = None
    stakeholder: uuid.UUID | None = None
    subscription: uuid.UUID | None = None
    event: uuid.UUID | None = None
    event_type: str | None = None


async def list_deliveries(session: AsyncSession, page: PageParams, f: DeliveryFilter) -> Sequence[Delivery]:
    query = select(Delivery).order_by(col(Delivery.created_at).desc(), col(Delivery.id))
    for column, value in (
        (Delivery.status, f.status),
        (Delivery.stakeholder_id, f.stakeholder),
        (Delivery.subscription_id, f.subscription),
        (Delivery.event_id, f.event),
        (Delivery.event_type, f.event_type),
    ):
        if value is not None:
            query = query.where(column == value)
    return (await session.exec(query.offset(page.offset).limit(page.limit + 1))).all()


async def attempts(session: AsyncSession, delivery_id: uuid.UUID) -> Sequence[DeliveryAttempt]:
    query = select(DeliveryAttempt).where(DeliveryAttempt.delivery_id == delivery_id).order_by(col(DeliveryAttempt.id))
    return (await session.exec(query)).all()


async def active_subscriptions(session: AsyncSession) -> Sequence[Subscription]:
    return (await session.exec(select(Subscription).where(col(Subscription.active)))).all()


async def insert_delivery(session: AsyncSession, row: dict[str, Any]) -> None:
    """One delivery; left alone when it exists already (same subscription and event)."""
    await session.execute(insert(Delivery).values(**row).on_conflict_do_nothing())


@dataclass
class NewDeliveries:
    """The deliveries of a run of events, as one statement takes them: each event and each
    subscription once, and one (event, subscription) pair of 1-based indexes per delivery."""

    event_ids: list[uuid.UUID] = field(default_factory=list)
    event_types: list[str] = field(default_factory=list)
    bodies: list[str] = field(default_factory=list)  # the stored copy of each event, as JSON text
    pair_events: list[int] = field(default_factory=list)
    pair_subscriptions: list[int] = field(default_factory=list)


# One INSERT for a whole run of events: a dozen array parameters, however many deliveries, where an
# executemany of per-row INSERTs binds eleven parameters per delivery and runs the executor once per
# row. Each event's JSON travels once, not once per matching subscription. The pairs are joined to
# their event and subscription by position (`WITH ORDINALITY` numbers from 1). Ids are random version-4
# UUIDs made by PostgreSQL (`gen_random_uuid`), like the model's `uuid4` default, at no Python cost.
_INSERT_DELIVERIES = text(
    """
    INSERT INTO delivery
        (id, subscription_id, stakeholder_id, channel, event_id, event_type, event, status, attempts,
         next_attempt_at, created_at)
    SELECT gen_random_uuid(), s.id, s.stakeholder_id, CAST(s.channel AS channel), e.id, e.type, e.body,
           CAST(s.status AS deliverystatus), 0, s.next_attempt_at, CAST(:now AS timestamptz)
    FROM unnest(CAST(:pair_events AS int[]), CAST(:pair_subscriptions AS int[])) AS p(event_no, subscription_no)
    JOIN unnest(CAST(:event_ids AS uuid[]), CAST(:event_types AS text[]), CAST(:bodies AS json[]))
         WITH ORDINALITY AS e(id, type, body, no) ON e.no = p.event_no
    JOIN unnest(CAST(:subscription_ids AS uuid[]), CAST(:stakeholder_ids AS uuid[]), CAST(:channels AS text[]),
                CAST(:statuses AS text[]), CAST(:next_attempts AS timestamptz[]))
         WITH ORDINALITY AS s(id, stakeholder_id, channel, status, next_attempt_at, no) ON s.no = p.subscription_no
    ON CONFLICT DO NOTHING
    """
)


async def insert_deliveries(
    session: AsyncSession,
    subscriptions: Sequence[tuple[Subscription, DeliveryStatus, datetime | None]],
    new: NewDeliveries,
    now: datetime,
) -> None:
    """Insert `new` for `subscriptions` (each with the status and first attempt time its deliveries
    start with); a delivery that exists already (same subscription and event) is left alone."""
    if not new.pair_events:
        return
    await (await session.connection()).execute(
        _INSERT_DELIVERIES,
        {
            "now": now,
            "pair_events": new.pair_events,
            "pair_subscriptions": new.pair_subscriptions,
            "event_ids": new.event_ids,
            "event_types": new.event_types,
            "bodies": new.bodies,
            "subscription_ids": [sub.id for sub, _, _ in subscriptions],
            "stakeholder_ids": [sub.stakeholder_id for sub, _, _ in subscriptions],
            # the labels of the PostgreSQL enums are the members' names, as the ORM writes them
            "channels": [Channel(sub.channel).name for sub, _, _ in subscriptions],
            "statuses": [DeliveryStatus(status).name for _, status, _ in subscriptions],
            "next_attempts": [next_attempt for _, _, next_attempt in subscriptions],
        },
    )


async def first_attempts_waiting(session: AsyncSession, up_to: int, skip: Collection[uuid.UUID] = ()) -> tuple[int, float]:
    """Deliveries due and not yet tried once (counted up to `up_to`: the count only has to say
    whether the dispatcher is full), and how long the oldest of them has waited, in seconds.
    Retries wait for their time and do not count, nor do the subscriptions in `skip` (slow ones
    the dispatcher holds back: their queue is theirs)."""
    query = select(col(Delivery.next_attempt_at)).where(
        Delivery.status == DeliveryStatus.pending, Delivery.attempts == 0, col(Delivery.next_attempt_at) <= func.now()
    )
    if skip:
        query = query.where(col(Delivery.subscription_id).not_in(skip))
    due = query.order_by(col(Delivery.next_attempt_at)).limit(up_to).subquery()
    oldest_wait = func.coalesce(func.extract("epoch", func.now() - func.min(due.c.next_attempt_at)), 0)
    count, wait = (await session.exec(select(func.count(), oldest_wait).select_from(due))).one()
    return count, float(wait)


@dataclass
class DueDelivery:
    """A delivery to attempt now, locked for this pass, with what sending it needs."""

    delivery: Delivery
    subscription: Subscription
    stakeholder: Stakeholder


async def lock_due_deliveries(
    session: AsyncSession, now: datetime, limit: int, skip: Collection[uuid.UUID] = ()
) -> list[DueDelivery]:
    """Up to `limit` pending deliveries due by `now`, oldest first, locked (FOR UPDATE SKIP LOCKED:
    several passes and instances share the due rows without sending one twice), each with its
    subscription and stakeholder from the same read, none of the subscriptions in `skip`.
    Getting those one delivery at a time was a round trip each: fifty per full pass. Only the
    deliveries are locked."""
    query = _with_parties().where(Delivery.status == DeliveryStatus.pending, col(Delivery.next_attempt_at) <= now)
    if skip:
        query = query.where(col(Delivery.subscription_id).not_in(skip))
    query = query.order_by(col(Delivery.next_attempt_at)).limit(limit).with_for_update(skip_locked=True, of=Delivery)
    return [DueDelivery(*row) for row in (await session.exec(query)).all()]


async def lock_delivery(session: AsyncSession, delivery_id: uuid.UUID) -> DueDelivery | None:
    """One delivery, locked, with its subscription and stakeholder (to record a late answer)."""
    row = (await session.exec(_with_parties().where(Delivery.id == delivery_id).with_for_update(of=Delivery))).first()
    return DueDelivery(*row) if row is not None else None


def _with_parties() -> Select[Delivery, Subscription, Stakeholder]:
    """Deliveries with their subscription and stakeholder, one row each."""
    return (
        select(Delivery, Subscription, Stakeholder)
        .join(Subscription, col(Subscription.id) == col(Delivery.subscription_id))
        .join(Stakeholder, col(Stakeholder.id) == col(Delivery.stakeholder_id))
    )


async def stakeholders_with_digest_pending(session: AsyncSession) -> Sequence[uuid.UUID]:
    query = select(col(Delivery.stakeholder_id)).distinct().where(Delivery.status == DeliveryStatus.digest_pending)
    return (await session.exec(query)).all()


async def claim_digest_day(session: AsyncSession, stakeholder_id: uuid.UUID, day: date, now: datetime) -> bool:
    """Claim `day`'s digest of the stakeholder (its unique key): False when it is taken already
    (sent, or being sent by another instance: the insert waits for that transaction)."""
    claim = insert(DigestSent).values(stakeholder_id=stakeholder_id, day=day, items=0, sent_at=now)
    return (await session.execute(claim.on_conflict_do_nothing().returning(col(DigestSent.day)))).first() is not None


async def lock_digest_items(session: AsyncSession, stakeholder_id: uuid.UUID, until: datetime) -> list[Delivery]:
    """The stakeholder's deliveries waiting for a digest, made by `until`, oldest first, locked."""
    query = (
        select(Delivery)
        .where(
            Delivery.stakeholder_id == stakeholder_id,
            Delivery.status == DeliveryStatus.digest_pending,
            col(Delivery.created_at) <= until,
        )
        .order_by(col(Delivery.created_at))
        .with_for_update(skip_locked=True)
    )
    return list((await session.exec(query)).all())


async def set_digest_items(session: AsyncSession, stakeholder_id: uuid.UUID, day: date, items: int) -> None:
    await session.execute(
        update(DigestSent).where(col(DigestSent.stakeholder_id) == stakeholder_id, col(DigestSent.day) == day).values(items=items)
    )
